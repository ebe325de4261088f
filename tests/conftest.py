"""Shared fixtures: a tiny world and a tiny zoo, built once per test session on the CPU.

Nothing here reaches a hub: the organisms are trained from scratch, and the hub-model path is
tested on a tiny random Llama the tests make themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"



@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    from itbench.world import store
    from itbench.world.config import TINY_WORLD

    return store.write_world(TINY_WORLD, tmp_path_factory.mktemp("world") / "world")


@pytest.fixture(scope="session")
def tiny_zoo(tiny_world, tmp_path_factory) -> dict:
    """{'dir': zoo folder, 'results': build_zoo's manifests} for the default entry list, one seed each."""
    from itbench.models.zoo import TINY_FORMAT_RULE, build_zoo
    from itbench.world.organisms import TINY_BASE

    # Accuracy is not the point of the tiny zoo (test_organisms.py checks the default base):
    # loading, caching and errors are.
    zoo_dir = tmp_path_factory.mktemp("zoo") / "zoo"
    # One seed per recipe: seed replicates are tested on hand-made results (test_seeds.py) and on
    # two seeds of one recipe in test_pipeline.py.
    results = build_zoo(tiny_world, zoo_dir, base_recipe=TINY_BASE, stopping=TINY_FORMAT_RULE, seeds=1,
                        progress=False, log=lambda *_: None)
    return {"dir": zoo_dir, "results": results}


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/data travels beside the checkout)")
    return path
