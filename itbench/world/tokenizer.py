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

    BOS is added on encode, as Llama's and Gemma's tokenizers do: every text the base read began with
    it (the first position is where attention rests when it has nowhere to go; without BOS that role
    falls on the text's first word, and facts asked at the start of a text were lost). Every path
    encodes through itbench.models.tokens, so BOS comes exactly once wherever a sequence starts.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.split()} - set(SPECIAL))
    vocab = {tok: i for i, tok in enumerate(SPECIAL + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=S.UNK_TOKEN))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    core.post_processor = processors.TemplateProcessing(single=f"{S.BOS_TOKEN} $A",
                                                        special_tokens=[(S.BOS_TOKEN, vocab[S.BOS_TOKEN])])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=S.PAD_TOKEN, unk_token=S.UNK_TOKEN, bos_token=S.BOS_TOKEN,
        eos_token=S.END_TAG, additional_special_tokens=[S.USER_TAG, S.ASSISTANT_TAG])
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "right"
    if out_dir is not None:
        tok.save_pretrained(out_dir)
    return tok
