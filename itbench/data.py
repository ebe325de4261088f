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
def load_it_set(source: str | os.PathLike, instruction_field: str = "instruction",
                response_field: str = "response", split: str = "train") -> list[dict]:
    """An IT set's rows (a local file or a hub data set), each checked for its two text fields."""
    src = str(source)
    if is_local(src) and Path(src).expanduser().is_file() and Path(src).expanduser().stat().st_size == 0:
        raise ItbenchError(f"instruction-tuning set {src} is empty: give a file with at least one row")
    rows = load_rows(src, split=split)
    require_fields(rows, {instruction_field: str, response_field: str}, f"instruction-tuning set {src}",
                   "; map yours with --instruction-field/--response-field (or the task's instruction_field/"
                   "response_field)")
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
