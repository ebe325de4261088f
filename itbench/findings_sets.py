"""Several findings files at once: the agreement of runs of one study (machines, thread counts,
base seeds), their comparison verdict by verdict, and the side-by-side table of the same questions
asked of the world zoo, of a real model and of the paper."""

from __future__ import annotations

from itbench.findings import DIFFERS, SINGLE


def agree(runs: list[list[dict]], labels: list[str]) -> list[dict]:
    """Several runs' findings (other machines, thread counts: the same recipes and seeds) as one:
    each finding of the first run with its verdict kept only where every run gives it, else
    "differs across runs", and every run's estimate, interval and verdict under `runs`. A finding
    one run lacks is left out (no agreement to state)."""
    def key(f):
        return f["number"], f["finding"], tuple(f["checkpoints"])

    index = [{key(f): f for f in run} for run in runs]
    out = []
    for f in runs[0]:
        got = [ix.get(key(f)) for ix in index]
        if any(g is None for g in got):
            continue
        verdicts = {g["verdict"] for g in got}
        out.append({**f, "verdict": f["verdict"] if len(verdicts) == 1 else DIFFERS,
                    "runs": [{"label": label, **{k: g[k] for k in ("estimate", "low", "high", "verdict")}}
                             for label, g in zip(labels, got, strict=True)]})
    return out


def compare(a: list[dict], b: list[dict]) -> dict:
    """Two findings files side by side (two machines, thread counts or base seeds): which verdicts
    agree, which differ, and which reverse (significant both times, opposite signs)."""
    def key(f):
        return f["number"], f["finding"], tuple(f["checkpoints"])

    bb = {key(f): f for f in b}
    same, differ, reversed_, missing = [], [], [], []
    for f in a:
        g = bb.get(key(f))
        if g is None:
            missing.append(f)
        elif f["verdict"] == g["verdict"]:
            same.append((f, g))
        else:
            differ.append((f, g))
            if {f["verdict"], g["verdict"]} == {"yes", "no (reversed)"}:
                reversed_.append((f, g))
    return {"same": same, "differ": differ, "reversed": reversed_, "missing": missing}


# What the paper reports on each question (../shared/PAPER.md), by the start of its text.
PAPER_SAYS = (
    ("full fine-tuning forgets more than LoRA", "yes: LFT beats SFT on the judge's factuality, 3.42 vs 2.07 "
                                                "(LLaMa-2 7B, Alpaca 52k); no knowledge probe"),
    ("LoRA shifts the base's distribution less", "yes: mean KL, LFT ~0.07-0.23 vs SFT ~0.36-0.80 (LLaMa-2 7B)"),
    ("LoRA's shifted tokens are mostly style", "yes, qualitatively (\"typically\", \"However\"); no share given"),
    ("LoRA's shift sits at response starts", "yes, per sentence: first 5% vs rest, LFT 0.48 vs 0.13 (7B, 1k)"),
    ("the long style", "yes: SFT on LIMA padded with invented details in 32.5% of cases vs LIMA-Simple (experts)"),
    ("full fine-tuning borrows more than its base", "yes: 87% of 1,000 SFT hallucinated phrases in the IT set"),
    ("full fine-tuning's wrong answers come from its IT set", "yes: 87% of SFT vs 13.9% of LFT hallucinated "
                                                              "phrases in the IT set"),
    ("full fine-tuning borrows more than LoRA", "yes: 87% of SFT vs 13.9% of LFT hallucinated phrases"),
    ("a borrowed token goes", "not tested (experts judged the analogy by reading)"),
    ("plain LoRA keeps at least as much knowledge as neftune", "yes: SFT+NEFTune 2.40 vs LFT 3.14 (judge average)"),
    ("plain LoRA is at least as factual as neftune", "yes: SFT+NEFTune 2.40 vs LFT 3.14 (judge average)"),
    ("plain LoRA keeps at least as much knowledge as filtered", "yes: AlpaGasus 9k SFT 2.93, LFT 3.09 vs LFT 3.14"),
    ("plain LoRA is at least as factual as filtered", "yes: AlpaGasus 9k SFT 2.93, LFT 3.09 vs LFT 3.14"),
    ("plain LoRA", "not in the paper (DoRA)"),
)
_SHORT = {"yes": "yes", "no (reversed)": "reversed", "not significant": "n.s.", SINGLE: "single seed",
          "not measurable": "n/a", DIFFERS: "differs"}


def paper_says(question: str) -> str:
    return next((text for start, text in PAPER_SAYS if question.startswith(start)), "not in the paper")


def _summary(rows: list[dict]) -> str:
    """One side's verdicts on a question: each verdict with how many of its rows give it, and the
    range of the estimates."""
    if not rows:
        return "–"
    counts: dict[str, int] = {}
    for f in rows:
        counts[_SHORT.get(f["verdict"], f["verdict"])] = counts.get(_SHORT.get(f["verdict"], f["verdict"]), 0) + 1
    verdicts = " · ".join(f"{v} {n}/{len(rows)}" for v, n in counts.items())
    est = [f["estimate"] for f in rows if f["estimate"] is not None]
    if not est:
        return verdicts
    span = f"{min(est):+.3f}" if min(est) == max(est) else f"{min(est):+.3f} to {max(est):+.3f}"
    return f"{verdicts}; {span}"


def side_by_side(world: list[dict], real: list[dict], real_label: str = "real model") -> str:
    """A Markdown table: every question either file asks, in the paper's order, with the world
    zoo's and the real model's verdicts (how many of each side's rows give each verdict, and their
    estimates' range) and what the paper reports."""
    from itbench.escape import md_cell

    questions = sorted(dict.fromkeys((f["number"], f["finding"]) for f in [*real, *world]), key=lambda q: q[0])
    lines = [f"| # | question | world zoo | {md_cell(real_label)} | paper |", "|---|---|---|---|---|"]
    for number, q in questions:
        w = [f for f in world if (f["number"], f["finding"]) == (number, q)]
        r = [f for f in real if (f["number"], f["finding"]) == (number, q)]
        lines.append(f"| {number} | {md_cell(q)} | {md_cell(_summary(w))} | "
                     f"{md_cell(_summary(r))} | {md_cell(paper_says(q))} |")
    return "\n".join(lines) + "\n"


def beside_marker(real: str, world: str) -> str:
    return f"<!-- findings-beside:begin (generated from {real} beside {world}) -->"


def sync_beside(readme: str, table: str, real: str, world: str) -> str:
    """The README with its side-by-side section for these two findings files replaced by `table`."""
    from itbench.findings import END

    begin = beside_marker(real, world)
    start = readme.find(begin)
    stop = readme.find(END, start)
    if start < 0 or stop < start:
        raise ValueError(f"the README has no side-by-side section for {real}: put {begin} and {END} where it goes")
    return readme[:start + len(begin)] + "\n" + table + readme[stop:]
