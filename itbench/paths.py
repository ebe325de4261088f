"""Where itbench keeps what it builds and caches: everything lives under $ITBENCH_HOME (default
~/.cache/itbench). The one module that reads that variable; every other module asks here."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def home() -> Path:
    """$ITBENCH_HOME, else ~/.cache/itbench."""
    return Path(os.environ.get("ITBENCH_HOME", Path.home() / ".cache" / "itbench")).expanduser()


def world() -> Path:
    """The world the world tasks read: $ITBENCH_WORLD, else the embedded one in $ITBENCH_HOME."""
    return Path(os.environ.get("ITBENCH_WORLD") or home() / "world").expanduser()


def zoo() -> Path:
    return home() / "zoo"


def results() -> Path:
    return home() / "results"


def leaderboard() -> Path:
    return home() / "leaderboard"


def reference_cache() -> Path:
    """Base-model answers, keyed by base fingerprint, prompt and decoding settings."""
    return home() / "reference"


def index_cache() -> Path:
    """Retrieval indexes over IT sets, keyed by content."""
    return home() / "index"


def merged_cache() -> Path:
    """LoRA adapters merged into their base for vLLM's prompt_logprobs, keyed by adapter fingerprint."""
    return home() / "merged"


def judge() -> Path:
    """The judge's verdict cache, its local server's logs and audits."""
    return home() / "judge"


def gate_runs() -> Path:
    return home() / "gate"


def policies() -> Path:
    """The policies shipped with itbench (itbench/policies/NAME.toml)."""
    return PACKAGE / "policies"


def tasks() -> Path:
    """The folder `lm_eval --include_path` takes."""
    return PACKAGE / "tasks"
