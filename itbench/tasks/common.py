"""Helpers shared by the task families: data-set loading (world, local file or hub) and the
paired payload check."""

from __future__ import annotations

import os
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.models.paired import parse_payload


def world_dir(world: str | None = None) -> Path:
    """The world a task reads: --metadata '{"world": DIR}', else $ITBENCH_WORLD, else the embedded one."""
    from itbench.cli import home
    from itbench.world import store

    path = Path(world or os.environ.get("ITBENCH_WORLD") or home() / "world")
    store.read_manifest(path)  # a clear error when it is missing or of another version
    return path


def rows_from(source: str, hub_name: str, split: str, env: str, **hub_kwargs) -> list[dict]:
    """Rows of a real data set: a local JSON/JSONL file (task metadata or an environment variable),
    else the hub data set by name through `datasets`."""
    local = source or os.environ.get(env)
    if local:
        path = Path(local).expanduser()
        if not path.exists():
            raise ItbenchError(f"data file {path} does not exist (from {'metadata' if source else env})")
        from itbench.models.finetune import read_json_rows

        return read_json_rows(path)
    import datasets

    try:
        return list(datasets.load_dataset(hub_name, split=split, **hub_kwargs))
    except Exception as err:  # offline, gated or renamed: datasets raises many types
        raise ItbenchError(f"cannot load {hub_name!r} from the hub ({type(err).__name__}: {err}); offline, point "
                           f"${env} (or --metadata '{{\"data_file\": PATH}}') at a local copy") from err


def to_dataset(rows: list[dict]):
    import datasets

    if not rows:
        raise ItbenchError("the task's data set is empty")
    return {"test": datasets.Dataset.from_list(rows)}


def paired(doc: dict, response: str, task: str) -> dict:
    payload = parse_payload(response)
    if payload is None:
        raise ItbenchError(
            f"{task} compares a tuned model with its base, but an unpaired model answered; run it with "
            "--model itbench --model_args base=BASE,lora=ADAPTER (or tuned=MODEL)")
    return payload


_IT_SETS: dict[tuple, list[dict]] = {}


def it_set_rows(source: str, instruction_field: str = "instruction", response_field: str = "response") -> list[dict]:
    """An IT set's rows (file or hub name), loaded once per process and checked for its fields."""
    from itbench.models.finetune import load_it_rows
    from itbench.models.recipes import FinetuneRecipe

    key = (str(source), instruction_field, response_field)
    if key not in _IT_SETS:
        recipe = FinetuneRecipe(method="lora", instruction_field=instruction_field, response_field=response_field)
        _IT_SETS[key] = load_it_rows(source, recipe)
    return _IT_SETS[key]


def tuned_it_set(payload: dict, doc: dict, task: str) -> str:
    """The IT set to compare with: the document's (task metadata), else the tuned checkpoint's."""
    source = doc.get("it_set") or payload.get("tuned_it_set")
    if not source:
        raise ItbenchError(f"{task} compares responses with the IT set the model was tuned on, and none is known: "
                           "pass --metadata '{\"it_set\": PATH_OR_HUB_NAME}' (a checkpoint built by itbench "
                           "names its own)")
    return source
