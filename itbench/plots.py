"""Plots as inline SVG strings: the leaderboard page needs no server, no script library and no
network. Every label is escaped (checkpoint names are untrusted input); NaN values are skipped.
"""

from __future__ import annotations

import math
from html import escape

WIDTH = 720
LABEL_W = 170
ROW_H = 22
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _finite(*xs) -> bool:
    return all(x is not None and not math.isnan(x) for x in xs)


def _svg(name: str, title: str, height: int, body: list[str]) -> str:
    return (f'<svg class="plot" data-plot="{escape(name)}" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<title>{escape(title)}</title>'
            f'<text x="4" y="16" {FONT} font-weight="bold">{escape(title)}</text>' + "".join(body) + "</svg>")


def _legend(series: list[tuple[str, str]], y: int) -> list[str]:
    out, x = [], 8
    for name, color in series:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{y}" {FONT}>{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def _axis(x0: float, x1: float, lo: float, hi: float, y: int, ticks: int = 5) -> list[str]:
    fmt = "{:.2f}" if hi - lo <= 2 else "{:.1f}"
    out = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#888"/>']
    for i in range(ticks + 1):
        v = lo + (hi - lo) * i / ticks
        x = x0 + (x1 - x0) * i / ticks
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#888"/>'
                   f'<text x="{x:.1f}" y="{y + 16}" {FONT} text-anchor="middle">{fmt.format(v)}</text>')
    return out


def stacked_bars(name: str, title: str, labels: list[str], series: list[tuple[str, str, list[float]]]) -> str:
    """One horizontal bar per label, its parts (shares summing to about 1) side by side."""
    top, x0, x1 = 44, LABEL_W, WIDTH - 20
    body = _legend([(s, c) for s, c, _ in series], 34)
    for i, label in enumerate(labels):
        y, x = top + i * ROW_H, float(x0)
        body.append(f'<text x="{x0 - 6}" y="{y + 14}" {FONT} text-anchor="end">{escape(label)}</text>')
        for sname, color, values in series:
            v = values[i]
            if not _finite(v):
                continue
            w = max(0.0, v) * (x1 - x0)
            body.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{ROW_H - 6}" fill="{color}">'
                        f'<title>{escape(label)}: {escape(sname)} {v:.3f}</title></rect>')
            x += w
    axis_y = top + len(labels) * ROW_H + 4
    body += _axis(x0, x1, 0.0, 1.0, axis_y)
    return _svg(name, title, axis_y + 26, body)


def dot_whiskers(name: str, title: str, labels: list[str],
                 series: list[tuple[str, str, list[float], list[float], list[float]]], lo: float = 0.0,
                 hi: float = 1.0) -> str:
    """Each label a row; each series a dot with its 95% interval as a whisker."""
    top, x0, x1 = 44, LABEL_W, WIDTH - 20
    vals = [v for _, _, values, lows, highs in series for v in (*values, *lows, *highs) if _finite(v)]
    lo, hi = min([lo, *vals]), max([hi, *vals])
    scale = (x1 - x0) / ((hi - lo) or 1.0)
    body = _legend([(s, c) for s, c, *_ in series], 34)
    offsets = [(j - (len(series) - 1) / 2) * 6 for j in range(len(series))]
    for i, label in enumerate(labels):
        y = top + i * ROW_H + ROW_H / 2
        body.append(f'<text x="{x0 - 6}" y="{y + 4}" {FONT} text-anchor="end">{escape(label)}</text>'
                    f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#eee"/>')
        for (sname, color, values, lows, highs), off in zip(series, offsets, strict=True):
            v = values[i]
            if not _finite(v):
                continue
            yy = y + off
            if _finite(lows[i], highs[i]):
                a, b = x0 + (lows[i] - lo) * scale, x0 + (highs[i] - lo) * scale
                body.append(f'<line x1="{a:.1f}" y1="{yy:.1f}" x2="{b:.1f}" y2="{yy:.1f}" stroke="{color}" '
                            'stroke-width="2"/>')
            tip = f"{label}: {sname} {v:.3f}" + (f" [{lows[i]:.3f}, {highs[i]:.3f}]" if _finite(lows[i], highs[i])
                                                 else "")
            body.append(f'<circle cx="{x0 + (v - lo) * scale:.1f}" cy="{yy:.1f}" r="4" fill="{color}">'
                        f'<title>{escape(tip)}</title></circle>')
    axis_y = top + len(labels) * ROW_H + 4
    body += _axis(x0, x1, lo, hi, axis_y)
    return _svg(name, title, axis_y + 26, body)


def lines(name: str, title: str, xlabel: str,
          series: list[tuple[str, str, list[float], list[float], list[float], list[float]]], height: int = 260) -> str:
    """Series of (x, y, low, high) points joined by lines, x on a log scale (IT-set sizes)."""
    x0, x1, y0, y1 = 60, WIDTH - 20, height - 40, 44
    pts = [(x, y, a, b) for *_, xs, ys, lows, highs in series for x, y, a, b in zip(xs, ys, lows, highs, strict=True)
           if _finite(x, y) and x > 0]
    body = _legend([(s, c) for s, c, *_ in series], 34)
    if not pts:
        body.append(f'<text x="{x0}" y="{height / 2}" {FONT}>no checkpoints of two or more IT-set sizes</text>')
        return _svg(name, title, height, body)
    xs_all = sorted({p[0] for p in pts})
    ys_all = [v for p in pts for v in p[1:] if _finite(v)]
    lx0, lx1 = math.log(xs_all[0]), math.log(xs_all[-1])
    ylo, yhi = min(0.0, *ys_all), max(ys_all) * 1.05 or 1.0

    def px(x):
        return x0 + (math.log(x) - lx0) / ((lx1 - lx0) or 1.0) * (x1 - x0)

    def py(y):
        return y0 - (y - ylo) / ((yhi - ylo) or 1.0) * (y0 - y1)

    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>'
                f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#888"/>'
                f'<text x="{(x0 + x1) / 2}" y="{height - 6}" {FONT} text-anchor="middle">{escape(xlabel)}</text>')
    for x in xs_all:
        body.append(f'<text x="{px(x):.1f}" y="{y0 + 16}" {FONT} text-anchor="middle">{x:g}</text>')
    for i in range(5):
        v = ylo + (yhi - ylo) * i / 4
        body.append(f'<text x="{x0 - 6}" y="{py(v) + 4:.1f}" {FONT} text-anchor="end">{v:.2f}</text>'
                    f'<line x1="{x0}" y1="{py(v):.1f}" x2="{x1}" y2="{py(v):.1f}" stroke="#eee"/>')
    for sname, color, xs, ys, lows, highs in series:
        pts = [(x, y, a, b) for x, y, a, b in zip(xs, ys, lows, highs, strict=True) if _finite(x, y) and x > 0]
        if len(pts) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, *_ in pts)
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, a, b in pts:
            if _finite(a, b):
                body.append(f'<line x1="{px(x):.1f}" y1="{py(a):.1f}" x2="{px(x):.1f}" y2="{py(b):.1f}" '
                            f'stroke="{color}" stroke-width="2"/>')
            body.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}">'
                        f'<title>{escape(sname)} at {x:g}: {y:.3f}</title></circle>')
    return _svg(name, title, height, body)


def grouped_bars(name: str, title: str, labels: list[str], series: list[tuple[str, str, list[float]]]) -> str:
    """Per label a group of horizontal bars, one per series, on one shared scale from 0."""
    k = len(series)
    bar = 7
    group_h = k * bar + 8
    top, x0, x1 = 44, LABEL_W, WIDTH - 20
    vals = [v for *_, values in series for v in values if _finite(v)]
    hi = max(vals) if vals else 1.0
    body = _legend([(s, c) for s, c, _ in series], 34)
    for i, label in enumerate(labels):
        y = top + i * group_h
        body.append(f'<text x="{x0 - 6}" y="{y + group_h / 2 + 3}" {FONT} text-anchor="end">{escape(label)}</text>')
        for j, (sname, color, values) in enumerate(series):
            v = values[i]
            if not _finite(v):
                continue
            body.append(f'<rect x="{x0}" y="{y + j * bar + 2}" width="{max(0.0, v) / (hi or 1) * (x1 - x0):.1f}" '
                        f'height="{bar - 1}" fill="{color}"><title>{escape(label)}: {escape(sname)} {v:.3f}'
                        f'</title></rect>')
    axis_y = top + len(labels) * group_h + 4
    body += _axis(x0, x1, 0.0, hi, axis_y)
    return _svg(name, title, axis_y + 26, body)
