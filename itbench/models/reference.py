"""The reference cache: a base model's answers, computed once per base and shared by every paired
run of its checkpoints (and by the screening of a question pool, itbench.screen)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from itbench.utils import atomic

log = logging.getLogger(__name__)


class ReferenceCache:
    """Base-model answers keyed by sha256(base identity, prompt, settings); saved atomically after
    every batch so a crash later in a run loses nothing already computed."""

    def __init__(self, folder: Path | None, base_key: str):
        self.path = folder / f"{base_key}.json" if folder else None
        self.data: dict[str, str] = {}
        if self.path and self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                log.warning("reference cache %s is damaged; starting it afresh", self.path)
        self.hits = 0

    @staticmethod
    def key(prompt: str, settings: dict) -> str:
        return atomic.sha256_json({"prompt": prompt, **settings})

    def get(self, key: str) -> str | None:
        if key in self.data:
            self.hits += 1
        return self.data.get(key)

    def put_many(self, items: dict[str, str]) -> None:
        """Add answers; several jobs may share one cache file: under an exclusive lock, what another
        job wrote since is read back and kept, then the union is written atomically."""
        self.data.update(items)
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path.with_name(self.path.name + ".lock")):
            if self.path.exists():
                try:
                    on_disk = json.loads(self.path.read_text())
                    self.data = {**on_disk, **self.data}
                except json.JSONDecodeError:
                    log.warning("reference cache %s is damaged; rewriting it", self.path)
            atomic.write_json(self.path, self.data)


class _locked:
    """An exclusive advisory lock on a file (fcntl; where there is none, no lock)."""

    def __init__(self, path: Path):
        self.path, self.f = path, None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # not POSIX
            return self
        self.f = open(self.path, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.f is not None:
            import fcntl

            fcntl.flock(self.f, fcntl.LOCK_UN)
            self.f.close()
