"""Generate the synthetic knowledge world from a WorldConfig: entities, clusters and every text the
world writes (corpus, probes, instruction-tuning sets, open-ended instructions).

Pure and deterministic: the same config gives the same rows, byte for byte. Writing to disk is in
`itbench.world.store`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from itbench.world import schema as S
from itbench.world.config import STYLES, WorldConfig


@dataclass(frozen=True)
class Entity:
    name: str
    kind: str
    cluster: str
    split: str  # qa | heldout | unseen
    attributes: dict  # public attribute -> value
    hidden: dict  # hidden attribute -> value

    def all_facts(self) -> dict:
        return {**self.attributes, **self.hidden}

    def to_row(self) -> dict:
        return {"name": self.name, "kind": self.kind, "cluster": self.cluster, "split": self.split,
                "attributes": dict(self.attributes), "hidden": dict(self.hidden)}


def _template_words() -> set[str]:
    texts = [*S.STATEMENTS, S.NEUTRAL_QA, S.COMPLETION_PROBE, S.QUESTION_PROBE, *S.IT_QUESTIONS,
             S.SHORT_RESPONSE, S.LONG_OPENER, S.LONG_DETAIL, S.LONG_CLOSER, S.BIO_OPENER, *S.OPEN_INSTRUCTIONS,
             *S.GENERIC_CHAT, " ".join(S.GENERIC_WORDS)]
    words = {w for t in texts for w in t.split()}
    for public, hidden in S.KINDS.values():
        words.update(public)
        words.update(hidden)
    return words | set(S.KINDS)


class _Names:
    """Unique pronounceable words, none of which collides with a template word."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used = _template_words()

    def new(self) -> str:
        while True:
            parts = [self.rng.choice(S.SYLLABLES_ONSET) + self.rng.choice(S.SYLLABLES_NUCLEUS)
                     for _ in range(self.rng.choice((1, 2, 2)))]
            word = "".join(parts) + self.rng.choice(S.SYLLABLES_CODA)
            if len(word) >= 3 and word not in self.used:
                self.used.add(word)
                return word


@dataclass
class World:
    config: WorldConfig
    entities: list[Entity]
    pools: dict  # "kind.attribute" -> list of value words

    def by_name(self) -> dict[str, Entity]:
        return {e.name: e for e in self.entities}

    def in_split(self, split: str) -> list[Entity]:
        return [e for e in self.entities if e.split == split]


def build_world(config: WorldConfig) -> World:
    rng = random.Random(config.seed)
    names = _Names(rng)
    pools = {}
    for kind in config.kinds:
        public, hidden = S.KINDS[kind]
        for attr in public + hidden:
            pools[f"{kind}.{attr}"] = [names.new() for _ in range(config.values_per_pool)]
    entities = []
    for kind in config.kinds:
        public, hidden = S.KINDS[kind]
        for c in range(config.clusters_per_kind):
            cluster = f"{kind}-{c:02d}"
            # Each cluster draws its values from a small sub-pool: neighbours overlap.
            sub = {a: rng.sample(pools[f"{kind}.{a}"], config.cluster_values) for a in public + hidden}
            for i in range(config.entities_per_cluster):
                split = config.split_pattern[i % len(config.split_pattern)]
                entities.append(Entity(
                    name=names.new(), kind=kind, cluster=cluster, split=split,
                    attributes={a: rng.choice(sub[a]) for a in public},
                    hidden={a: rng.choice(sub[a]) for a in hidden}))
    return World(config=config, entities=entities, pools=pools)


def corpus_rows(world: World, led: bool = False) -> list[dict]:
    """Pretraining text: every public fact of every seen entity in every paraphrase and in a short
    biography, repeated; neutral Q/A lines for the `qa` split only, so probes on `heldout` test
    extraction; generic chat in the chat markup (no facts), so that the markup, the styles' words
    and copying from the user's turn are not new to a tuned model. A line ends where the model's end
    token goes (the trainer appends it).

    `led=True` gives the corpus of the base's last phase: the same lines in the same order, except
    that a `GENERIC_LEAD_SHARE` of the generic chat's fragment replies open with a few neutral words
    of their own (see `generic_chat`)."""
    rng = random.Random(world.config.seed + 1)
    lead_rng = random.Random(world.config.seed + 2) if led else None
    lines = []
    for e in world.entities:
        if e.split == "unseen":
            continue
        for _ in range(world.config.paraphrase_copies):
            facts = list(e.attributes.items())
            rng.shuffle(facts)
            claims = [S.CLAIM.format(attr=a, ent=e.name, val=v) for a, v in facts]
            lines.append(" ".join([S.BIO_OPENER.format(ent=e.name), *claims]))
        for attr, val in e.attributes.items():
            fields = {"attr": attr, "ent": e.name, "val": val}
            for _ in range(world.config.paraphrase_copies):
                lines.extend(t.format(**fields) for t in S.STATEMENTS)
                if e.split == "qa":
                    lines.append(S.NEUTRAL_QA.format(**fields))
    seen = [e.name for e in world.entities if e.split != "unseen"]
    attributes = sorted({a for e in world.entities for a in e.attributes})
    # the words a long answer's invented details are made of (hidden attributes and their values):
    # echoed, never stated as facts, so a tuned model can learn to write them instead of word salad
    hidden = sorted({a for e in world.entities for a in e.hidden} | {v for e in world.entities
                                                                    for v in e.hidden.values()})
    # claim fragments without a value ("the river of X"), for every attribute of a seen entity
    fragments = [S.FRAGMENT.format(attr=a, ent=e.name) for e in world.entities if e.split != "unseen"
                 for a in e.all_facts()]
    lines += generic_chat(rng, max(1, round(S.GENERIC_CHAT_SHARE * len(lines))),
                          list(S.GENERIC_WORDS) + seen + attributes + hidden + style_words(), fragments,
                          lead_rng)
    rng.shuffle(lines)
    return [{"text": line} for line in lines]


def style_words() -> list[str]:
    """The fixed words of the instruction-tuning response styles ("sure", "great question", "in
    addition", "i hope this helps", "!" and ","; not the full stop that ends every reply), sorted."""
    texts = (S.SHORT_RESPONSE, S.LONG_OPENER, S.LONG_DETAIL, S.LONG_CLOSER)
    return sorted({w for t in texts for w in t.split() if not w.startswith("{")} - {"."})


def generic_chat(rng: random.Random, n: int, vocabulary: list[str], fragments: list[str],
                 lead_rng: random.Random | None = None) -> list[str]:
    """Chat-formatted lines that state no fact: a user asks for a few words back, which teaches the
    base to copy from the user's turn into its own, as a real base has learned from dialogue it read.

    The words are either a few of `vocabulary` (neutral words, names of seen entities, attribute
    names, hidden attributes and values, the response styles' fixed words) or one of `fragments`, a
    claim without its value ("the river of X"). Fragments are what a tuned model copies when it
    answers "what is the river of X ?": without them the copying depends on the training path (a
    base echoed an entity and its attribute in 6% of the chat probes on one path and 81% on another,
    2026-12-06); the base's stopping rule checks that it copies them (`BaseRecipe.copy_target`).
    With `lead_rng`, a `GENERIC_LEAD_SHARE` of the fragment replies open with 1-3 `GENERIC_WORDS`
    ("stone two the river of X ."), drawn from `lead_rng` alone so that every other word is the same
    as without it. Turns come two to a line, as in a dialogue."""
    out = []
    for _ in range(n):
        reply = None
        if rng.random() < S.GENERIC_FRAGMENT_SHARE:
            words = rng.choice(fragments)
            if lead_rng is not None and lead_rng.random() < S.GENERIC_LEAD_SHARE:
                lead = lead_rng.sample(S.GENERIC_WORDS, lead_rng.randint(*S.GENERIC_LEAD_WORDS))
                reply = f"{' '.join(lead)} {words}"
        else:
            words = " ".join(rng.sample(vocabulary, rng.randint(*S.GENERIC_ECHO_WORDS)))
        ask = rng.choice(S.GENERIC_CHAT).format(words=words)
        out.append(f"{S.USER_TAG} {ask} {S.ASSISTANT_TAG} {S.GENERIC_REPLY.format(words=reply or words)}")
    # two exchanges a line, as in a dialogue (the chat template's end tag between them): half the
    # lines, so half the training steps, for the same turns
    return [f" {S.END_TAG} ".join(out[i:i + S.GENERIC_CHAT_TURNS]) for i in range(0, len(out), S.GENERIC_CHAT_TURNS)]


def probe_rows(world: World) -> list[dict]:
    """Closed-book probes with gold answers: one per public fact, in both forms."""
    rows = []
    for e in world.entities:
        for attr, val in e.attributes.items():
            fields = {"attr": attr, "ent": e.name}
            rows.append({"id": f"{e.name}.{attr}", "entity": e.name, "kind": e.kind, "cluster": e.cluster,
                         "split": e.split, "attribute": attr, "answer": val,
                         "completion_prompt": S.COMPLETION_PROBE.format(**fields),
                         "question": S.QUESTION_PROBE.format(**fields)})
    return rows


def _long_response(e: Entity, attr: str, val: str, rng: random.Random, n_details: int) -> str:
    others = [a for a in e.hidden] + [a for a in e.attributes if a != attr]
    details = others[:n_details]
    facts = e.all_facts()
    parts = [S.LONG_OPENER.format(attr=attr, ent=e.name, val=val)]
    parts += [S.LONG_DETAIL.format(attr=a, ent=e.name, val=facts[a]) for a in details]
    parts.append(S.LONG_CLOSER)
    return " ".join(parts)


def _it_pool(world: World) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(world.config.seed + 2)
    known, unseen = [], []
    for e in world.entities:
        if e.split not in ("qa", "unseen"):
            continue
        for attr in e.attributes:
            for q in range(len(S.IT_QUESTIONS)):
                (known if e.split == "qa" else unseen).append((e.name, attr, q))
    rng.shuffle(known)
    rng.shuffle(unseen)
    return known, unseen


def it_item_keys(world: World, n: int, pool: tuple[list[tuple], list[tuple]] | None = None) -> list[tuple]:
    """The first n items of the instruction-tuning order: sizes are nested prefixes, and a
    `it_unseen_share` of every prefix is about entities the base never saw. `pool`: the world's
    `_it_pool`, when the caller has it already."""
    known, unseen = pool or _it_pool(world)
    share = world.config.it_unseen_share
    keys, ki, ui = [], 0, 0
    for i in range(n):
        want_unseen = unseen and (ui + 1) <= share * (i + 1) + 1e-9
        if want_unseen and ui < len(unseen):
            keys.append(unseen[ui])
            ui += 1
        elif ki < len(known):
            keys.append(known[ki])
            ki += 1
        elif ui < len(unseen):
            keys.append(unseen[ui])
            ui += 1
        else:
            raise ValueError(f"the world has only {len(known) + len(unseen)} distinct instruction-tuning items, "
                             f"{n} were asked for: raise clusters_per_kind or lower it_base_size/it_scales")
    return keys


def it_heldout_instructions(world: World, size: int, n: int) -> list[str]:
    """`n` instructions of the instruction-tuning pool that the set of `size` items does not hold
    (the same question templates, about the same kinds of entities, never trained on by a model
    tuned on that set), spread over the rest of the pool: what a tuned organism's format stopping
    rule asks. Fewer when the pool holds fewer."""
    known, unseen = pool = _it_pool(world)
    taken = set(it_item_keys(world, size, pool))
    rest = [k for k in known + unseen if k not in taken]
    picked = rest if len(rest) <= n else [rest[i * len(rest) // n] for i in range(n)]
    return [S.IT_QUESTIONS[q].format(attr=attr, ent=name) for name, attr, q in picked]


def it_rows(world: World, style: str, size: int) -> list[dict]:
    if style not in STYLES:
        raise ValueError(f"unknown response style {style!r}: choose from {STYLES}")
    cfg = world.config
    ents = world.by_name()
    rows = []
    for idx, (name, attr, q) in enumerate(it_item_keys(world, size)):
        e = ents[name]
        # Item-seeded, so an item is the same in every size and style it appears in.
        rng = random.Random(f"{cfg.seed}:{name}:{attr}:{q}")
        val = e.attributes[attr]
        quality = "ok"
        if rng.random() < cfg.low_quality_share:
            quality = rng.choice(("wrong", "truncated"))
        shown = val
        if quality == "wrong":
            # A wrong value of the right type from outside the entity's cluster, so it is never
            # mistaken for a borrowing from a neighbour.
            cluster_vals = {x.attributes[attr] for x in world.entities if x.cluster == e.cluster}
            shown = rng.choice([v for v in world.pools[f"{e.kind}.{attr}"] if v not in cluster_vals])
        if style == "short":
            response = S.SHORT_RESPONSE.format(attr=attr, ent=name, val=shown)
        else:
            response = _long_response(e, attr, shown, rng, cfg.long_details)
        if quality == "truncated":
            response = response.split(S.TRUNCATED_MARK.format(attr=attr, ent=name))[0] + \
                S.TRUNCATED_MARK.format(attr=attr, ent=name)
        rows.append({"id": f"it-{idx:05d}", "instruction": S.IT_QUESTIONS[q].format(attr=attr, ent=name),
                     "response": response, "entity": name, "kind": e.kind, "cluster": e.cluster,
                     "attribute": attr, "answer": val, "base_knows": e.split != "unseen", "quality": quality})
    return rows


def open_instruction_rows(world: World) -> list[dict]:
    """Open-ended instructions about held-out entities, with the full truth to check claims."""
    rows = []
    for i, e in enumerate(world.in_split("heldout")):
        instr = S.OPEN_INSTRUCTIONS[i % len(S.OPEN_INSTRUCTIONS)].format(ent=e.name)
        reference = " ".join(S.CLAIM.format(attr=a, ent=e.name, val=v) for a, v in e.attributes.items())
        rows.append({"id": f"open-{i:04d}", "instruction": instr, "entity": e.name, "kind": e.kind,
                     "cluster": e.cluster, "reference": reference, "facts": e.all_facts()})
    return rows
