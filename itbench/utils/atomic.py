"""Atomic writes: a reader sees the old file or folder or the new one, never half of either.

Files go to a temporary sibling and are moved into place with os.replace. Folders are built in a
temporary sibling; the old folder is moved aside, the new one moved in, then the old one removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path


def write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike, rows) -> None:
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


@contextlib.contextmanager
def build_dir(final: str | os.PathLike):
    """Yield an empty temporary folder; on success it replaces `final` whole."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old.{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def lock(path: str | os.PathLike, wait: bool = True):
    """An exclusive lock on `path` between processes (flock: the system drops it when its holder
    exits, killed included, so nothing stale is left). Yields True once held; with wait=False it
    yields False at once where another process holds it."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def claimed(names, lock_of, log=print):
    """Yield each name while holding its lock (`lock_of(name)` is the lock file), so several
    processes working down one list share it: a name another process holds is put off and taken,
    waiting for it, only after the free ones (by then usually done and cached)."""
    later = []
    for name in names:
        with lock(lock_of(name), wait=False) as held:
            if held:
                yield name
                continue
        later.append(name)
    for name in later:
        log(f"{name}: another process holds it; waiting for it")
        with lock(lock_of(name)):
            yield name


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


_LEFTOVER = re.compile(r"^\..+\.(tmp|old\.\d+|lock)$")  # what write_text, build_dir and lock leave


def check_output(out: str | os.PathLike, inputs=(), *, ours=(), flag: str = "--out", what: str = "output") -> Path:
    """The output folder `out`, resolved, if writing there destroys nothing; else an ItbenchError that
    says why and what to pass instead. Refused: an output that is, holds or lies inside one of the
    `inputs` (files or folders, existing or still to be written; None entries are skipped), an
    existing file, and a non-empty folder holding none of `ours` (names or glob patterns that mark
    a previous output of the same kind: itbench replaces its own outputs, never someone else's
    folder; `ours=None` when the caller already checked the folder above `out`, e.g. a zoo
    rebuilding a damaged checkpoint). A folder holding only the temporary leftovers of a killed
    itbench run counts as empty, so that run resumes."""
    from itbench.errors import ItbenchError

    out = Path(out).expanduser().resolve()
    for src in inputs:
        if src is None:
            continue
        src = Path(src).expanduser().resolve()  # an input still to be written counts as well
        if out == src or src.is_relative_to(out) or out.is_relative_to(src):
            raise ItbenchError(f"{flag} {out} is, holds or lies inside the input {src}: writing the {what} there "
                               "would mix it with (or replace) what it reads; choose a folder of its own")
    if out.exists() and not out.is_dir():
        raise ItbenchError(f"{flag} {out} is an existing file: the {what} is a folder; choose another path")
    if ours is not None and out.is_dir() and any(not _LEFTOVER.match(p.name) for p in out.iterdir()) \
            and not any(next(out.glob(name), None) is not None for name in ours):
        raise ItbenchError(f"{flag} {out} is a folder that holds other things and no {what} "
                           f"(none of {', '.join(ours) or 'its files'}): choose an empty or new folder "
                           "(itbench replaces only what it wrote itself)")
    return out


def check_output_file(out: str | os.PathLike, inputs=(), *, flag: str = "--out") -> Path:
    """An output file `out`, resolved, if writing it destroys nothing: not one of the `inputs`, not
    inside an input folder, not an existing folder."""
    from itbench.errors import ItbenchError

    out = Path(out).expanduser().resolve()
    if out.is_dir():
        raise ItbenchError(f"{flag} {out} is a folder: give a file path")
    for src in inputs:
        if src is None or not Path(src).expanduser().exists():
            continue
        src = Path(src).expanduser().resolve()
        if out == src or (src.is_dir() and out.is_relative_to(src)):
            raise ItbenchError(f"{flag} {out} is or lies inside the input {src}: writing there would replace or "
                               "mix with what it reads; choose another path")
    return out
