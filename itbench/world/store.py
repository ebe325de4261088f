"""Write a world to a folder of ordinary JSONL files, and read it back with version checks.

Layout (every file loadable with `datasets.load_dataset("json", data_files=...)`):

    world.json                 manifest: format version, config, fingerprint, file hashes
    entities.jsonl             the truth: every entity, its cluster, split and attributes
    corpus.jsonl               pretraining text
    corpus_led.jsonl           the same, read in the base's last phase (some chat replies led by neutral words)
    probes.jsonl               closed-book probes (completion and question form) with gold answers
    it/{style}_{scale}x.jsonl  instruction-tuning sets (short / long, nested sizes)
    open_instructions.jsonl    open-ended instructions about held-out entities
"""

from __future__ import annotations

import json
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.utils import atomic, jsonfile
from itbench.world import generate as G
from itbench.world.config import STYLES, WORLD_FORMAT_VERSION, WorldConfig

MANIFEST = "world.json"


def it_filename(style: str, scale: int) -> str:
    return f"it/{style}_{scale}x.jsonl"


def world_fingerprint(config: WorldConfig) -> str:
    return atomic.sha256_json({"format_version": WORLD_FORMAT_VERSION, "config": config.to_dict()})[:16]


def write_world(config: WorldConfig, out_dir: str | Path) -> Path:
    """Generate the world and write it atomically; reuse it if the same world is already there."""
    out_dir = Path(out_dir)
    fp = world_fingerprint(config)
    atomic.check_output(out_dir, ours=(MANIFEST,), flag="world folder", what="world")
    if (out_dir / MANIFEST).exists():
        try:
            if read_manifest(out_dir)["fingerprint"] == fp:
                return out_dir
        except ItbenchError:
            pass  # another version or a damaged folder: rebuild it whole
    world = G.build_world(config)
    files = {
        "entities.jsonl": [e.to_row() for e in world.entities],
        "corpus.jsonl": G.corpus_rows(world),
        "corpus_led.jsonl": G.corpus_rows(world, led=True),
        "probes.jsonl": G.probe_rows(world),
        "open_instructions.jsonl": G.open_instruction_rows(world),
    }
    for style in STYLES:
        for scale in config.it_scales:
            files[it_filename(style, scale)] = G.it_rows(world, style, config.it_base_size * scale)
    with atomic.build_dir(out_dir) as tmp:
        hashes = {}
        for name, rows in files.items():
            atomic.write_jsonl(tmp / name, rows)
            hashes[name] = atomic.sha256_file(tmp / name)
        atomic.write_json(tmp / MANIFEST, {
            "format_version": WORLD_FORMAT_VERSION, "fingerprint": fp, "config": config.to_dict(),
            "pools": world.pools, "files": hashes})
    return out_dir


def read_manifest(world_dir: str | Path) -> dict:
    path = Path(world_dir) / MANIFEST
    if not path.exists():
        raise ItbenchError(f"{world_dir} is not an itbench world (no {MANIFEST}): build one with "
                           f"`itbench world build --out {world_dir}`")
    try:
        manifest = jsonfile.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ItbenchError(f"{path} is not valid JSON ({err}): rebuild the world with `itbench world build`") from err
    version = manifest.get("format_version")
    if version != WORLD_FORMAT_VERSION:
        raise ItbenchError(f"{world_dir} holds a world of format version {version}, but this itbench reads "
                           f"version {WORLD_FORMAT_VERSION}: rebuild it with `itbench world build --out {world_dir}`")
    return manifest


def world_file(world_dir: str | Path, name: str) -> Path:
    """Path of one world file, checked against the manifest's version and hash."""
    manifest = read_manifest(world_dir)
    if name not in manifest["files"]:
        raise ItbenchError(f"{world_dir} has no file {name!r}; it has {sorted(manifest['files'])}")
    path = Path(world_dir) / name
    if not path.exists() or atomic.sha256_file(path) != manifest["files"][name]:
        raise ItbenchError(f"{path} is missing or was changed after the world was built: "
                           f"rebuild it with `itbench world build --out {world_dir}`")
    return path


def read_rows(world_dir: str | Path, name: str) -> list[dict]:
    with open(world_file(world_dir, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_dataset(world_dir: str | Path, name: str):
    """One world file as a `datasets.Dataset` (after the version check)."""
    import datasets

    return datasets.load_dataset("json", data_files=str(world_file(world_dir, name)), split="train")


def load_config(world_dir: str | Path) -> WorldConfig:
    return WorldConfig.from_dict(read_manifest(world_dir)["config"])
