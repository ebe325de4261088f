"""The data layer: rows of a data set from a local JSON / JSONL / CSV file or a hub data set, in
one place, with errors that name the file and the fix.

Everything read here is untrusted: a row that is not an object, a missing field, a field of the
wrong type each stop with the file, the row and what was expected. IT sets and their summaries are
memoised per process by the file's content identity (path, size, modification time), so a task
that scores many documents against one IT set reads it once.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.utils import jsonfile

FORMATS = (".json", ".jsonl", ".csv")
_KIND_NAMES = {str: "text", list: "list"}


def is_local(source: str | os.PathLike) -> bool:
    """A file path (existing, or written as a path) rather than a hub name."""
    s = str(source)
    return Path(s).expanduser().exists() or s.startswith((".", "/", "~")) or s.endswith(FORMATS)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of a JSON file (a list of objects, or {"data": [...]}), a JSONL file (an object a line)
    or a CSV file (a header line, then a row a line)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ItbenchError(f"data file {path} does not exist (or is not a file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ItbenchError(f"data file {path} is not UTF-8 text ({err})") from err
    if path.suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    elif path.suffix == ".json":
        try:
            data = jsonfile.loads(text)
        except json.JSONDecodeError as err:
            raise ItbenchError(f"data file {path} is not valid JSON ({err})") from err
        rows = data.get("data") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise ItbenchError(f"data file {path} holds neither a list of rows nor {{\"data\": [...]}}")
    else:
        rows = []
        for i, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    rows.append(jsonfile.loads(line))
                except json.JSONDecodeError as err:
                    raise ItbenchError(f"data file {path}, line {i}, is not valid JSON ({err}): one object a "
                                       "line (JSONL), or give a .json file") from err
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ItbenchError(f"data file {path}: row {bad} is a {type(rows[bad - 1]).__name__}, not an object")
    return rows


def load_rows(source: str | None, hub_name: str | None = None, split: str = "test", env: str | None = None,
              **hub_kwargs) -> list[dict]:
    """Rows of a data set: `source` (a local file or a hub name), else the file named by the
    environment variable `env`, else the hub data set `hub_name` through `datasets`."""
    local = source or (os.environ.get(env) if env else None)
    if local and is_local(local):
        return read_rows(local)
    name = local or hub_name
    if not name:
        raise ItbenchError("no data set given: pass a data file" + (f" or set ${env}" if env else ""))
    import datasets

    try:
        return list(datasets.load_dataset(name, split=split, **hub_kwargs))
    except Exception as err:  # offline, gated or renamed: datasets raises many types
        hint = f"point ${env} (or the task's data_file) at a local copy" if env else "pass a local JSON/JSONL/CSV file"
        raise ItbenchError(f"cannot load {name!r} from the hub ({type(err).__name__}: {err}); offline, {hint}") from err


def require_fields(rows: list[dict], fields: dict[str, type | tuple], source: str, hint: str = "") -> None:
    """Every row has every field, of the given type."""
    if not rows:
        raise ItbenchError(f"data set {source} has no rows")
    for field, kind in fields.items():
        bad = sum(1 for r in rows if not isinstance(r.get(field), kind))
        if bad:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
            raise ItbenchError(f"data set {source}: {bad} of {len(rows)} rows lack a {names} field {field!r} "
                               f"(fields of the first row: {sorted(rows[0])}){hint}")


def spread(rows: list, n: int | None) -> list:
    """`n` rows evenly spaced over the whole set (all when n is None or at least its size): a
    subset that keeps the set's order-wise composition (PopQA's popularity strata, just-eval's
    source sets), the same on every machine."""
    if n is None or n >= len(rows):
        return list(rows)
    if n < 1:
        raise ItbenchError(f"a subset needs at least one row, not {n}")
    return [rows[i * len(rows) // n] for i in range(n)]


def to_dataset(rows: list[dict]):
    """lm-eval's custom_dataset shape: {"test": datasets.Dataset}."""
    import datasets

    if not rows:
        raise ItbenchError("the task's data set is empty")
    return {"test": datasets.Dataset.from_list(rows)}


# --- instruction-tuning sets -------------------------------------------------------------------
def _with_input(text: str, extra) -> str:
    """An instruction with its input or context appended (Alpaca's prompt keeps both)."""
    extra = extra.strip() if isinstance(extra, str) else ""
    return f"{text}\n\n{extra}" if extra else text


def _turns(row: dict) -> tuple[str, str] | None:
    """(instruction, response) of a chat row: the last assistant turn and the user turn before it
    (a system turn, if any, opens the instruction). OpenAI `messages` ({role, content}) or
    ShareGPT `conversations` ({from, value}); None when the row has no such pair."""
    turns = row.get("messages") if "messages" in row else row.get("conversations")
    if not isinstance(turns, list) or not all(isinstance(m, dict) for m in turns):
        return None
    roles = {"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant"}
    said = [(roles.get(m.get("role", m.get("from")), m.get("role", m.get("from"))), m.get("content", m.get("value")))
            for m in turns]
    last = max((i for i, (r, c) in enumerate(said) if r == "assistant" and isinstance(c, str)), default=None)
    user = max((i for i, (r, c) in enumerate(said[:last or 0]) if r == "user" and isinstance(c, str)), default=None)
    if last is None or user is None:
        return None
    system = next((c for r, c in said[:user] if r == "system" and isinstance(c, str) and c.strip()), None)
    return (_with_input(system, said[user][1]) if system else said[user][1]), said[last][1]


# The formats users bring, tried in this order on the first row's fields: (name, fields that mark
# it, what it becomes, the row's (instruction, response) or None)
IT_FORMATS = (
    ("instruction/response", ("instruction", "response"), "instruction + input or context -> prompt",
     lambda r: (_with_input(r["instruction"], r.get("input") or r.get("context")), r["response"])
     if isinstance(r.get("instruction"), str) and isinstance(r.get("response"), str) else None),
    ("Alpaca", ("instruction", "output"), "instruction + input -> prompt, output -> response",
     lambda r: (_with_input(r["instruction"], r.get("input")), r["output"])
     if isinstance(r.get("instruction"), str) and isinstance(r.get("output"), str) else None),
    ("chat messages", ("messages",), "the last user turn -> prompt, the assistant's reply -> response", _turns),
    ("ShareGPT", ("conversations",), "the last human turn -> prompt, the gpt reply -> response", _turns),
    ("prompt/completion", ("prompt", "completion"), "prompt -> prompt, completion -> response",
     lambda r: (r["prompt"], r["completion"])
     if isinstance(r.get("prompt"), str) and isinstance(r.get("completion"), str) else None),
)


def it_format(rows: list[dict]) -> tuple | None:
    """The IT_FORMATS entry the first row's fields name, or None."""
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    return next((f for f in IT_FORMATS if all(k in first for k in f[1])), None)


def as_it_rows(rows: list[dict], source: str) -> tuple[list[dict], str]:
    """Rows of a format users bring, each with `instruction` and `response` text fields added (the
    other fields kept), and a line that says which format was read. Dolly's `context` and Alpaca's
    `input` stay in the instruction."""
    name, _, how, pair = it_format(rows)
    out = []
    for i, row in enumerate(rows, 1):
        got = pair(row)
        if got is None or not all(isinstance(x, str) for x in got):
            raise ItbenchError(f"instruction-tuning set {source}: row {i} is not a {name} row like the first "
                               f"(fields: {sorted(row)})")
        out.append({**row, "instruction": got[0], "response": got[1]})
    return out, f"{source}: {name} rows ({how}), {len(out)} rows"


def load_it_set(source: str | os.PathLike, instruction_field: str = "instruction",
                response_field: str = "response", split: str = "train", log=None) -> list[dict]:
    """An IT set's rows (a local file or a hub data set), each checked for its two text fields.
    With the default field names, a set in another common format (Alpaca, chat messages,
    ShareGPT, prompt/completion, Dolly) is detected from its fields and read as instruction and
    response (`log` gets one line saying which); named fields that the rows hold are used as given."""
    src = str(source)
    if is_local(src) and Path(src).expanduser().is_file() and Path(src).expanduser().stat().st_size == 0:
        raise ItbenchError(f"instruction-tuning set {src} is empty: give a file with at least one row")
    rows = load_rows(src, split=split)
    if not rows:
        raise ItbenchError(f"instruction-tuning set {src} has no rows")
    fmt = it_format(rows)
    # itbench's own rows (instruction, response, nothing to append) are used as they are
    first = rows[0] if isinstance(rows[0], dict) else {}
    plain = (isinstance(first.get("instruction"), str) and isinstance(first.get("response"), str)
             and not {"input", "context"} & set(first))
    if (instruction_field, response_field) == ("instruction", "response") and fmt and not plain:
        rows, line = as_it_rows(rows, src)
        if log:
            log(line)
        return rows
    known = "; ".join(f"{name} ({', '.join(keys)})" for name, keys, *_ in IT_FORMATS)
    require_fields(rows, {instruction_field: str, response_field: str}, f"instruction-tuning set {src}",
                   "; map yours with --instruction-field/--response-field (or the task's instruction_field/"
                   f"response_field), or give rows of a format read without flags: {known}")
    return rows


def identity(source: str) -> tuple:
    """What tells a file's content apart cheaply (path, size, mtime), for per-process memos."""
    p = Path(source).expanduser()
    if p.is_file():
        st = p.stat()
        return (str(p.resolve()), st.st_size, st.st_mtime_ns)
    return (source,)


def it_set_rows(source: str, instruction_field: str = "instruction", response_field: str = "response") -> list[dict]:
    """An IT set's rows, read once per process while the file is unchanged."""
    return _it_set_rows(identity(str(source)), str(source), instruction_field, response_field)


@functools.lru_cache(maxsize=16)
def _it_set_rows(identity: tuple, source: str, fi: str, fr: str) -> list[dict]:
    return load_it_set(source, fi, fr)


def it_set_stats(source: str, instruction_field: str = "instruction", response_field: str = "response") -> dict:
    """The summary of an IT set's responses that pattern copying compares with (memoised)."""
    return _it_set_stats(identity(str(source)), str(source), instruction_field, response_field)


@functools.lru_cache(maxsize=16)
def _it_set_stats(identity: tuple, source: str, fi: str, fr: str) -> dict:
    from itbench.metrics.pattern_copy import it_set_stats as summarise

    return summarise([r[fr] for r in it_set_rows(source, fi, fr)])
