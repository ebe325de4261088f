"""The paired model's answer to one document: a JSON payload with both models' outputs, which the
tasks' process_results unpack. Its own module so that tasks read payloads without importing the
model (and torch)."""

from __future__ import annotations

import json

PAYLOAD_KEY = "itbench_paired"


def make_payload(**fields) -> str:
    return json.dumps({PAYLOAD_KEY: 1, **fields})


def parse_payload(response: str) -> dict | None:
    """The paired payload of a response, or None when an unpaired model answered."""
    try:
        data = json.loads(response)
    except (json.JSONDecodeError, TypeError):
        return None
    return data if isinstance(data, dict) and data.get(PAYLOAD_KEY) == 1 else None
