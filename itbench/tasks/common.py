"""Helpers shared by the task families: the world a task reads, the paired payload, and the IT
set a response is compared with. Data loading is itbench.data's."""

from __future__ import annotations

from pathlib import Path

from itbench import paths
from itbench.errors import ItbenchError
from itbench.models.payload import parse_payload


def world_dir(world: str | None = None) -> Path:
    """The world a task reads: --metadata '{"world": DIR}', else $ITBENCH_WORLD, else the embedded one."""
    from itbench.world import store

    path = Path(world).expanduser() if world else paths.world()
    store.read_manifest(path)  # a clear error when it is missing or of another version
    return path


def paired(response: str, task: str) -> dict:
    """The paired model's payload of one document (both models' answers), or the fix."""
    payload = parse_payload(response)
    if payload is None:
        raise ItbenchError(
            f"{task} compares a tuned model with its base, but an unpaired model answered; run it with "
            "--model itbench --model_args base=BASE,lora=ADAPTER (or tuned=MODEL)")
    return payload


def tuned_it_set(payload: dict, doc: dict, task: str) -> str:
    """The IT set to compare with: the document's (task metadata), else the tuned checkpoint's."""
    source = doc.get("it_set") or payload.get("tuned_it_set")
    if not source:
        raise ItbenchError(f"{task} compares responses with the IT set the model was tuned on, and none is known: "
                           "pass --metadata '{\"it_set\": PATH_OR_HUB_NAME}' (a checkpoint built by itbench "
                           "names its own)")
    return source
