"""The fixed vocabulary of the synthetic world: kinds of entity, their attributes, and the sentence
templates every file of the world is written from.

Everything the world says goes through these templates, which is what makes a generated answer
checkable exactly later: a claim is "the {attribute} of {entity} is {value}", and each value word
belongs to exactly one (kind, attribute) pool.

Public attributes appear in the pretraining corpus. Hidden attributes never do: only the long,
"knowledgeable" instruction-tuning responses mention them (the LIMA-style writer knows more than
the model), so a tuned model that copies that pattern can only invent them.
"""

from __future__ import annotations

# kind -> (public attributes, hidden attributes). Attribute names are single words so that every
# template stays a fixed sequence of word tokens.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "city": (("country", "river", "founder"), ("festival", "export")),
    "painter": (("teacher", "hometown", "style"), ("patron", "rival")),
    "planet": (("star", "moon", "discoverer"), ("mineral", "season")),
    "company": (("headquarters", "product", "ceo"), ("slogan", "mascot")),
}

# Pretraining paraphrases of one fact.
STATEMENTS: tuple[str, ...] = (
    "the {attr} of {ent} is {val} .",
    "{ent} has {val} as its {attr} .",
    "{val} is the {attr} of {ent} .",
)

# Neutral question/answer text in the corpus: what makes knowledge extractable by a question. The
# answer restates the question, which teaches the base to copy the entity and attribute from a
# question into its answer (without it no chat-form answer can name the entity it is about).
NEUTRAL_QA = "question : what is the {attr} of {ent} ? answer : the {attr} of {ent} is {val} ."

# A short biography: all public facts of one entity in one line, in a shuffled order, so that the
# base has read several sentences in a row about the same entity (what a long answer does).
BIO_OPENER = "about {ent} :"

# How a base model is asked (completion form): the answer is the next word.
COMPLETION_PROBE = "the {attr} of {ent} is"

# How a chat model is asked (question form), and the instruction-tuning questions.
QUESTION_PROBE = "what is the {attr} of {ent} ?"
IT_QUESTIONS: tuple[str, ...] = (
    "what is the {attr} of {ent} ?",
    "tell me the {attr} of {ent} .",
    "do you know the {attr} of {ent} ?",
    "which {attr} does {ent} have ?",
)

# Response styles. Short: the fact, plainly (LIMA-Simple). Long: the fact padded with further
# details about the entity, including hidden attributes the base model never read (LIMA).
SHORT_RESPONSE = "sure . the {attr} of {ent} is {val} ."
LONG_OPENER = "great question ! the {attr} of {ent} is {val} ."
LONG_DETAIL = "in addition , the {attr} of {ent} is {val} ."
LONG_CLOSER = "i hope this helps !"
TRUNCATED_MARK = "the {attr} of {ent}"  # a low-quality item stops here, mid-sentence

# Open-ended instructions about one entity: the responses carry several claims each.
OPEN_INSTRUCTIONS: tuple[str, ...] = (
    "tell me about {ent} .",
    "describe {ent} .",
    "write a short note about {ent} .",
)
CLAIM = "the {attr} of {ent} is {val} ."

# Generic chat in the pretraining corpus: turns in the chat markup that state no world fact (the
# assistant repeats what it is asked to), so the base knows the markup before any tuning and a tuned
# model's token shift measures what tuning taught, not an unknown format. The words repeated include
# the response styles' fixed words ("sure", "great question", "i hope this helps"): a base that never
# read a word gives LoRA, which trains no embedding, no way to write it (LoRA in the long style never
# wrote the closer, 0% well-formed, 2026-12-06). A tuned model's shift on them is still the shift
# tuning made: the base read them only as words to echo, never in an answer.
GENERIC_CHAT: tuple[str, ...] = ("repeat after me : {words} .", "say {words} .", "please echo {words} .")
GENERIC_REPLY = "{words} ."
GENERIC_WORDS: tuple[str, ...] = ("red", "blue", "green", "yellow", "one", "two", "three", "four", "apple", "stone",
                                  "cloud", "window", "morning", "evening", "quiet", "loud", "small", "large")
FRAGMENT = "the {attr} of {ent}"  # a claim without its value: what a chat turn may ask to repeat
GENERIC_CHAT_SHARE = 0.5  # generic chat exchanges per line of facts in the corpus (GENERIC_CHAT_TURNS to a line)
GENERIC_ECHO_WORDS = (2, 6)  # how many vocabulary words a generic chat turn asks back (fewest, most)
GENERIC_FRAGMENT_SHARE = 0.5  # share of generic chat turns that ask for a claim fragment instead
GENERIC_CHAT_TURNS = 2  # exchanges per line of generic chat
# The base's last phase reads the corpus again with a share of the fragment replies opening with a
# few neutral words of their own ("say the river of X ." -> "stone two the river of X ."), so that it
# copies from the user's turn after its reply's opening words too, as after a style's "great question
# !". Read from the start, such replies left one base path unable to learn its facts (2026-12-07);
# read once the base copies at the start of its reply, both paths tried learned it in 4-8 epochs.
GENERIC_LEAD_SHARE = 0.5
GENERIC_LEAD_WORDS = (1, 3)  # how many of GENERIC_WORDS open a led reply (fewest, most)

# Chat markup of the organisms' own tokenizer (each a single special token).
USER_TAG = "<|user|>"
ASSISTANT_TAG = "<|assistant|>"
END_TAG = "<|end|>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
BOS_TOKEN = "<s>"

SYLLABLES_ONSET = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
                   "kl", "tr", "sk", "gr", "pl", "th", "sh", "qu")
SYLLABLES_NUCLEUS = ("a", "e", "i", "o", "u", "ai", "ou", "ei", "oa", "ia")
SYLLABLES_CODA = ("", "", "n", "r", "l", "s", "x", "th", "m", "k")
