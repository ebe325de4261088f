"""The study's instruction data: the short/long IT pair with the same instructions, and the
AlpaGasus-style quality score of each instance when no judge is configured."""

from __future__ import annotations

import re
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.utils import atomic

SHORT_SET, LONG_SET = "alpaca/alpaca_5000.json", "alpaca-gpt4/alpaca_en_demo.json"
EXTRA_SHORT = "alpaca/random_9k.json"  # more Alpaca rows, for more instructions in common with the long set


def it_sets(data_dir: Path, rows: int, out: Path) -> dict[str, Path]:
    """The short/long pair: Alpaca's and Alpaca-GPT4's answers to the same instructions (matched on
    instruction and input), `rows` of them chosen by a content hash (the same on every machine),
    written as JSONL (id, instruction, response) into `out`."""
    from itbench.data import read_rows

    def rows_of(rel: str) -> list[dict]:
        path = data_dir / rel
        if not path.is_file():
            raise ItbenchError(f"study data: {path} is missing; --data takes a folder laid out as ../shared/data "
                               f"(alpaca/, alpaca-gpt4/, popqa/, triviaqa/, just-eval-instruct/)")
        got = read_rows(path)
        fields = ("instruction", "output")
        bad = next((i for i, r in enumerate(got, 1)
                    if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in fields)), None)
        if bad:
            raise ItbenchError(f"study data: {path}, row {bad}, lacks a text 'instruction' or 'output' (Alpaca format)")
        return got

    def key(r):
        return r["instruction"].strip(), (r.get("input") or "").strip()

    short = {key(r): r for rel in (EXTRA_SHORT, SHORT_SET) if (data_dir / rel).is_file() for r in rows_of(rel)}
    long_ = {key(r): r for r in rows_of(LONG_SET)}
    common = sorted(set(short) & set(long_), key=lambda k: atomic.sha256_json(list(k)))
    common = [k for k in common if short[k]["output"].strip() and long_[k]["output"].strip()]
    if len(common) < rows:
        raise ItbenchError(f"study data: only {len(common)} instructions have both a short and a long answer; "
                           f"ask for --rows {len(common)} or fewer")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for style, source in (("short", short), ("long", long_)):
        items = [{"id": atomic.sha256_json(list(k))[:12],
                  "instruction": k[0] + (f"\n\n{k[1]}" if k[1] else ""),
                  "response": source[k]["output"].strip()} for k in common[:rows]]
        files[style] = out / f"it_{style}_{rows}.jsonl"
        atomic.write_jsonl(files[style], items)
    return files


REFUSAL = re.compile(r"\b(as an ai|i'm sorry|i am sorry|i cannot|i can't|language model)\b", re.I)


def heuristic_scores(rows: list[dict]) -> dict[str, float]:
    """An AlpaGasus-style quality score (1-5) for each IT instance when no judge is configured:
    5, minus 1 for each sign of a poor answer: fewer than 3 words; a refusal or AI disclaimer; an
    answer that only repeats the instruction; a placeholder ("<noinput>", "N/A"); an answer cut off
    mid-sentence. The filtered method keeps instances at 4.5 or above (AlpaGasus's threshold)."""
    scores = {}
    for r in rows:
        text, instr = r["response"].strip(), r["instruction"].strip().lower()
        words = text.split()
        score = 5.0
        score -= len(words) < 3
        score -= bool(REFUSAL.search(text))
        score -= text.lower() in instr
        score -= bool(re.search(r"<noinput>|^n/?a\.?$", text, re.I))
        score -= not text.endswith((".", "!", "?", ")", '"', "'", "`", "*")) and len(words) > 12
        scores[r["id"]] = max(1.0, score)
    return scores
