"""Plots for the leaderboard page, drawn by matplotlib as inline SVG: the page needs no server, no
script library and no network. matplotlib writes text as escaped SVG text (checkpoint names are
untrusted input); NaN values are left out. Output is deterministic (fixed ids, no date), so a
regenerated page is byte-identical.
"""

from __future__ import annotations

import io
import math
import re
from html import escape

import numpy as np

WIDTH_IN, ROW_IN = 7.5, 0.26
RC = {"svg.fonttype": "none", "svg.hashsalt": "itbench", "font.size": 9, "font.family": "sans-serif",
      "axes.spines.top": False, "axes.spines.right": False}


def _finite(*xs) -> bool:
    return all(x is not None and not math.isnan(x) for x in xs)


def _figure(height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, height), layout="constrained")


def _svg(fig, name: str, title: str) -> str:
    """The figure as an inline <svg class="plot" data-plot=NAME> element with its title."""
    import matplotlib

    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    attrs = f'class="plot" data-plot="{escape(name)}" role="img" aria-label="{escape(title)}" '
    return re.sub(r"^<svg ", "<svg " + attrs, svg, count=1).replace("\n", "")


def _legend(ax, n: int) -> None:
    if n:
        ax.legend(loc="upper left", bbox_to_anchor=(0, 1.02), ncols=min(n, 4), frameon=False, fontsize=8,
                  borderaxespad=0)


def stacked_bars(name: str, title: str, labels: list[str], series: list[tuple[str, str, list[float]]]) -> str:
    """One horizontal bar per label, its parts (shares summing to about 1) side by side."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(1.1 + ROW_IN * len(labels))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        left = np.zeros(len(labels))
        for sname, color, values in series:
            v = np.array([x if _finite(x) else 0.0 for x in values])
            ax.barh(y, v, left=left, color=color, label=sname, height=0.7)
            left += v
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_ylim(len(labels) - 0.5, -1.6)
        _legend(ax, len(series))
        return _svg(fig, name, title)


def grouped_bars(name: str, title: str, labels: list[str], series: list[tuple[str, str, list[float]]]) -> str:
    """Per label a group of horizontal bars, one per series, on one shared scale from 0."""
    import matplotlib

    k = max(1, len(series))
    with matplotlib.rc_context(RC):
        fig = _figure(1.1 + ROW_IN * 1.6 * len(labels))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        h = 0.8 / k
        for j, (sname, color, values) in enumerate(series):
            v = np.array([x if _finite(x) else np.nan for x in values])
            ax.barh(y - 0.4 + h * (j + 0.5), v, height=h, color=color, label=sname)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_ylim(len(labels) - 0.5, -1.6)
        _legend(ax, len(series))
        return _svg(fig, name, title)


def dot_whiskers(name: str, title: str, labels: list[str],
                 series: list[tuple[str, str, list[float], list[float], list[float]]], lo: float = 0.0,
                 hi: float = 1.0) -> str:
    """Each label a row; each series a dot with its 95% interval as a whisker."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(1.1 + ROW_IN * len(labels))
        ax = fig.add_subplot()
        y = np.arange(len(labels), dtype=float)
        offsets = [(j - (len(series) - 1) / 2) * 0.2 for j in range(len(series))]
        for (sname, color, values, lows, highs), off in zip(series, offsets, strict=True):
            keep = [i for i, v in enumerate(values) if _finite(v)]
            v = np.array([values[i] for i in keep])
            err = np.array([[max(0.0, v[j] - lows[i]) if _finite(lows[i]) else 0.0 for j, i in enumerate(keep)],
                            [max(0.0, highs[i] - v[j]) if _finite(highs[i]) else 0.0 for j, i in enumerate(keep)]])
            ax.errorbar(v, y[keep] + off, xerr=err.reshape(2, -1), fmt="o", color=color, label=sname,
                        markersize=4, capsize=0, elinewidth=2)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        vals = [v for _, _, values, lows, highs in series for v in (*values, *lows, *highs) if _finite(v)]
        ax.set_xlim(min([lo, *vals]), max([hi, *vals]))
        ax.set_ylim(len(labels) - 0.5, -1.6)
        _legend(ax, len(series))
        return _svg(fig, name, title)


def lines(name: str, title: str, xlabel: str,
          series: list[tuple[str, str, list[float], list[float], list[float], list[float]]]) -> str:
    """Series of (x, y, low, high) points joined by lines, x on a log scale (IT-set sizes)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(2.8)
        ax = fig.add_subplot()
        drawn = 0
        for sname, color, xs, ys, lows, highs in series:
            pts = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lows, highs, strict=True) if _finite(x, y) and x > 0]
            if not pts:
                continue
            x, yv = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            err = np.array([[max(0.0, p[1] - p[2]) if _finite(p[2]) else 0.0 for p in pts],
                            [max(0.0, p[3] - p[1]) if _finite(p[3]) else 0.0 for p in pts]])
            ax.errorbar(x, yv, yerr=err, fmt="-o", color=color, label=sname, markersize=4, capsize=0, linewidth=2)
            drawn += 1
        if drawn:
            ax.set_xscale("log")
            xs_all = sorted({x for *_, xs, ys, _, _ in series for x in xs if _finite(x) and x > 0})
            ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
            ax.minorticks_off()
        else:
            ax.text(0.5, 0.5, "no checkpoints of two or more IT-set sizes", ha="center", transform=ax.transAxes)
        ax.set_xlabel(xlabel)
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        _legend(ax, drawn)
        return _svg(fig, name, title)
