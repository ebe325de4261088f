"""WorldConfig: the documented, validated knobs of the synthetic knowledge world."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from itbench.world.schema import KINDS

# Bump when a change to the generator changes any file it writes: a world on disk of another
# version is refused rather than silently mixed with this code.
WORLD_FORMAT_VERSION = 5  # 2: generic chat in the corpus; 3: hidden attributes and values in it;
# 4: the styles' words and claim fragments in it; 5: the led corpus of the base's last phase

STYLES = ("short", "long")


@dataclass(frozen=True)
class WorldConfig:
    """How big the world is and how its instruction-tuning sets are cut.

    Each cluster holds `entities_per_cluster` entities of one kind whose attribute values come from
    a small shared sub-pool (`cluster_values` per attribute), so that entities of a cluster are
    conceptually similar and an answer borrowed from a neighbour is recognisable. Within a cluster
    the entities are dealt round-robin into three splits: `qa` (in the corpus with neutral Q/A text;
    the instruction-tuning set draws its known entities from here), `heldout` (in the corpus as
    statements only; what knowledge probes score), and `unseen` (never in the corpus).
    """

    seed: int = 0
    kinds: tuple[str, ...] = tuple(KINDS)
    clusters_per_kind: int = 6
    entities_per_cluster: int = 5
    values_per_pool: int = 24
    cluster_values: int = 3
    # Corpus: every public fact in every paraphrase, this many times.
    paraphrase_copies: int = 2
    # Instruction tuning: the 1x size, the scale series, and the mix.
    it_base_size: int = 45
    it_scales: tuple[int, ...] = (1, 4, 16)
    it_unseen_share: float = 0.25
    low_quality_share: float = 0.15
    long_details: int = 3
    split_pattern: tuple[str, ...] = field(default=("qa", "heldout", "qa", "heldout", "unseen"))

    def __post_init__(self):
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}: choose from {sorted(KINDS)}")
        for name in ("clusters_per_kind", "entities_per_cluster", "values_per_pool", "cluster_values",
                     "paraphrase_copies", "it_base_size", "long_details"):
            if getattr(self, name) < 1:
                raise ValueError(f"WorldConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.cluster_values > self.values_per_pool:
            raise ValueError("WorldConfig.cluster_values must not exceed values_per_pool")
        if not self.it_scales or sorted(self.it_scales) != list(self.it_scales) or self.it_scales[0] < 1:
            raise ValueError(f"WorldConfig.it_scales must be increasing positive integers, got {self.it_scales}")
        for name in ("it_unseen_share", "low_quality_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"WorldConfig.{name} must lie in [0, 1), got {getattr(self, name)}")
        bad = set(self.split_pattern) - {"qa", "heldout", "unseen"}
        if bad or not {"qa", "heldout"} <= set(self.split_pattern):
            raise ValueError("WorldConfig.split_pattern must use 'qa', 'heldout' (both required) and "
                             f"optionally 'unseen'; got {self.split_pattern}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WorldConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown WorldConfig field(s) {sorted(extra)}")
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(**{**data, **tuples})


# A world small enough for unit tests to train an organism on in seconds.
TINY_WORLD = WorldConfig(clusters_per_kind=2, entities_per_cluster=5, it_base_size=8, kinds=("city", "planet"))
