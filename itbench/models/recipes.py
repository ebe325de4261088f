"""Fine-tuning recipes: the methods the paper compares, as data.

The paper's recipe where it states one: 3 epochs, LoRA rank 8, one learning rate per method.
What it leaves open is fixed here once and not tuned to make an effect appear (see docs/world.md):
LoRA alpha 16, dropout 0.05, all linear layers; NEFTune alpha 5 (NEFTune's own 7B default);
an AlpaGasus keep threshold of 4.5 on a 1-5 judge score. Learning rates are per method, scaled to
the organisms: the paper's fine-tuning rate is about a sixth of LLaMA-2's peak pretraining rate,
which for the organisms (pretrained at 3e-3) gives 6e-4 for full fine-tuning; LoRA's rate is the
usual larger one for a low-rank update: 1e-2, about 17 times full fine-tuning's (LoRA rates are
commonly 10-20 times a full fine-tuning rate; at 2e-3 and 6e-3 the organisms' adapters learned
no answer format in three epochs, measured on 2026-11-23).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Method:
    """How a method trains: which parameters (a peft adapter or all weights), what noise, what data
    filter, and any further peft LoraConfig fields (`peft`, e.g. DoRA's use_dora). `improved` marks
    the paper's "method-improved" variants, which the zoo builds at the middle IT-set size."""

    tuning: str  # "lora" or "full"
    lr: float
    neftune_alpha: float | None = None
    filtered: bool = False
    peft: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    improved: bool = False

    def __post_init__(self):
        if self.tuning not in ("lora", "full"):
            raise ValueError(f"Method.tuning must be 'lora' or 'full', not {self.tuning!r}")
        if self.peft and self.tuning != "lora":
            raise ValueError("Method.peft configures a LoRA adapter: give tuning='lora'")


METHODS: dict[str, Method] = {}


def register_method(name: str, spec: Method) -> Method:
    """Add a tuning method (PEFT's register_peft_method shape): `itbench finetune --method NAME`, the
    zoo (when `improved`), the leaderboard and the gate then know it; nothing else changes."""
    if name in METHODS or name == "base":
        raise ValueError(f"a method named {name!r} is already registered")
    METHODS[name] = spec
    return spec


register_method("lora", Method(tuning="lora", lr=1e-2))
register_method("full", Method(tuning="full", lr=6e-4))
register_method("neftune", Method(tuning="full", lr=6e-4, neftune_alpha=5.0, improved=True))
register_method("filtered", Method(tuning="full", lr=6e-4, filtered=True, improved=True))
# DoRA (Liu et al. 2024): LoRA with the weight split into magnitude and direction, LoRA's rate.
register_method("dora", Method(tuning="lora", lr=1e-2, peft=MappingProxyType({"use_dora": True}), improved=True))


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: choose from {sorted(METHODS)}")
    return METHODS[name]


PRECISIONS = ("fp32", "bf16-mixed")


@dataclass(frozen=True)
class FinetuneRecipe:
    """Everything that decides a fine-tuned checkpoint, recorded in its manifest.

    `lr=None` takes the method's own rate. The field names of the data set are mapped by
    `instruction_field` / `response_field` (and `id_field` for judge scores).
    """

    method: str
    epochs: int = 3
    lr: float | None = None
    batch_size: int = 8
    seed: int = 0
    max_length: int = 256
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj",
                                                   "gate_proj", "up_proj", "down_proj"))
    neftune_alpha: float | None = None
    filter_threshold: float = 4.5
    instruction_field: str = "instruction"
    response_field: str = "response"
    id_field: str = "id"
    # "fp32", or "bf16-mixed": bfloat16 autocast over float32 master weights (Gemma 3 270M on two
    # CPU cores with AVX512-BF16: 1.8x (full) and 2.1x (LoRA) the float32 training speed)
    precision: str = "fp32"

    def __post_init__(self):
        method(self.method)  # raises on an unknown name
        if self.precision not in PRECISIONS:
            raise ValueError(f"FinetuneRecipe.precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError("FinetuneRecipe: epochs and batch_size must be at least 1, max_length at least 8")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"FinetuneRecipe.lr must be positive, got {self.lr}")
        if self.lora_r < 1:
            raise ValueError(f"FinetuneRecipe.lora_r must be at least 1, got {self.lora_r}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError("FinetuneRecipe.lora_dropout must lie in [0, 1)")

    @property
    def spec(self) -> Method:
        return METHODS[self.method]

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else self.spec.lr

    @property
    def noise_alpha(self) -> float | None:
        return self.neftune_alpha if self.neftune_alpha is not None else self.spec.neftune_alpha

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        if self.precision == "fp32":  # the default stays out: earlier recipes (and cached checkpoints) keep their hash
            del d["precision"]
        d["resolved"] = {"tuning": self.spec.tuning, "lr": self.learning_rate, "neftune_alpha": self.noise_alpha,
                         "filtered": self.spec.filtered}
        if self.spec.peft:  # only where set, so the recipes (and cached checkpoints) of other methods stay as they were
            d["resolved"]["peft"] = dict(self.spec.peft)
        return d


@dataclass(frozen=True)
class StoppingRule:
    """A tuned model's stopping rule (the base has its own, itbench.world.organisms): after the
    recipe's epochs, train on in rounds of `round_epochs` (each a warm-up and a cosine decay at the
    recipe's rate, in a new data order) until `target` of the model's answers to `prompts` held-out
    instructions are in its IT set's format, or `max_epochs` in all are spent. What "in format"
    means is the caller's measure (the world's: itbench.world.claims.well_formed).

    `replay=N` runs the rounds up to N epochs without measuring: a retrain that must follow a
    checkpoint's own schedule with other data (the causal check)."""

    target: float = 0.9
    round_epochs: int = 3
    max_epochs: int = 15
    prompts: int = 64
    replay: int | None = None

    def __post_init__(self):
        if not 0 <= self.target <= 1 or self.round_epochs < 1 or self.max_epochs < 1 or self.prompts < 1:
            raise ValueError("StoppingRule: target must lie in [0, 1]; round_epochs, max_epochs and prompts "
                             "must be at least 1")

    def more(self, epochs: int, share: float | None) -> bool:
        """Whether another round follows `epochs` epochs, after which `share` answered in format."""
        if self.replay is not None:
            return epochs < self.replay
        return share is not None and share < self.target and epochs + self.round_epochs <= self.max_epochs

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "replay"}

