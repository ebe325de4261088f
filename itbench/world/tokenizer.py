"""The organisms' word-level tokenizer: every word of the world is one token, so every entity name
and attribute value is a single token and an answer is exactly one generated token."""

from __future__ import annotations

from pathlib import Path

from itbench.world import schema as S

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}" + S.USER_TAG + " {{ message['content'] }} "
    "{% elif message['role'] == 'assistant' %}" + S.ASSISTANT_TAG + " {{ message['content'] }} " + S.END_TAG + " "
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}" + S.ASSISTANT_TAG + "{% endif %}"
)

SPECIAL = [S.PAD_TOKEN, S.UNK_TOKEN, S.BOS_TOKEN, S.END_TAG, S.USER_TAG, S.ASSISTANT_TAG]


def build_tokenizer(texts, out_dir: str | Path | None = None):
    """A PreTrainedTokenizerFast over the words of `texts`, with the world's chat template.

    No BOS is added on encode: lm-eval's `hf` backend does not add special tokens by default while
    vLLM does, and a tokenizer that adds none encodes identically under both.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.split()} - set(SPECIAL))
    vocab = {tok: i for i, tok in enumerate(SPECIAL + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=S.UNK_TOKEN))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=S.PAD_TOKEN, unk_token=S.UNK_TOKEN, bos_token=S.BOS_TOKEN,
        eos_token=S.END_TAG, additional_special_tokens=[S.USER_TAG, S.ASSISTANT_TAG])
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "right"
    if out_dir is not None:
        tok.save_pretrained(out_dir)
    return tok
