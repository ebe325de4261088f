"""Unsupported specifics: a judge-free count of the specific items an answer asserts that occur
neither in the question nor among its gold answers (finding 2's padding with invented detail).

A specific item is what a reader could check: on real text a number, a date or a capitalised name
(found with the standard library's `re`, rules below); on the world, whose text is lowercase, one
of the world's entity names or attribute values (its vocabulary). An item is *supported* when it
occurs as whole words in the question or in a gold answer (aliases included), or a gold answer
occurs in it ("William Shakespeare" for the gold "Shakespeare"); every other item is unsupported.
Unsupported is not false: a true detail the question did not ask for counts too. What the count
measures is how much an answer asserts beyond what it was asked and what is known to be right;
its agreement with the world's exact count of false claims is measured in the task README.

Real-text rules, in order (each match removes its span before the next rule reads the text):
  1. dates: a month name with a day and/or a year ("March 5, 1912", "5 March 1912", "May 1912");
  2. numbers: digit runs with inner separators and ordinal suffixes ("1,000", "3.5", "19th");
  3. names: maximal runs of capitalised words on one line, joined by lowercase particles (of, de,
     van, ...), so "University of Cambridge" is one item ("of the" ends a name: "the Chiefs of the
     National Football League" is two); initials and titles stay in a name ("J. K. Rowling", "Dr.
     Smith", "F.C."); a trailing possessive goes ("Earth's" is Earth). A one-word run at a sentence
     start is a name only when the word is not a common sentence opener ("The", "However", "Eat"),
     and a longer run there loses only a leading function word ("The Beatles" is Beatles, "New
     York" stays whole), so ordinary capitalisation is not counted; the pronoun "I" is no item.
The rules were fixed on a first hand-read sample of Gemma answers and measured on a second one
(the pattern-copy task README; docs/study.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from itbench.metrics.text import normalize
from itbench.metrics.token_shift import STYLE_WORDS

NAN = float("nan")
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_MONTH = r"(?:" + "|".join(m.capitalize() for m in MONTHS) + r")\.?"
_DATE = re.compile(rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{3,4}})?"
                   rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{3,4}})?"
                   rf"|{_MONTH},?\s+\d{{3,4}})\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?\b")
_LIST_NUMBER = re.compile(r"(?:^|\n)[ \t]*$")  # what precedes a list item's number ("1. ", "2) ")
_WORD = r"[^\W\d_][\w'’-]*"
_PARTICLES = ("of", "de", "da", "di", "del", "della", "van", "von", "der", "den", "du", "la", "le", "al", "bin",
              "y")
_WORD_RX = re.compile(_WORD)
# the next word of a name on the same line, past any particles
_NEXT = re.compile(rf"[ \t]+((?:(?:{'|'.join(_PARTICLES)})[ \t]+)*)({_WORD})")
_ABBREVIATED = re.compile(rf"\.[ \t]*({_WORD})")  # "J. K. Rowling", "Dr. Smith": a period inside a name
_TITLES = frozenset("mr mrs ms dr st jr sr prof gen col lt sgt rev".split())
# sentence openers that are capitalised only because they open a sentence
OPENERS = frozenset(STYLE_WORDS | {
    "after", "before", "during", "while", "although", "though", "because", "since", "unless", "until",
    "each", "every", "some", "many", "most", "one", "two", "three", "all", "both", "other", "another",
    "born", "known", "as", "according", "today", "yes", "no", "answer", "question", "q", "response",
    "instruction", "input", "output", "example", "examples", "step", "steps", "conclusion", "summary", "note",
    "tip", "tips", "including", "such", "based", "despite", "unfortunately", "fortunately", "in", "its",
    "on", "under", "over", "between", "among", "through", "without", "within", "use", "make", "take", "try",
    "consider", "remember", "avoid", "keep", "get", "start", "add", "ensure", "provide", "write", "create",
    "here's", "it's", "there's", "that's", "i'm", "i", "title", "name", "date", "place",
    # imperatives and adverbs that open the sentences of instructions' answers
    "eat", "drink", "sleep", "exercise", "read", "practice", "practise", "set", "stay", "find", "learn", "be",
    "go", "see", "look", "think", "ask", "give", "choose", "plan", "focus", "build", "break", "list", "describe",
    "explain", "identify", "follow", "include", "check", "measure", "mix", "put", "cook", "bake",
    "preheat", "combine", "store", "save", "spend", "limit", "reduce", "increase", "drive", "walk", "run", "open",
    "close", "turn", "press", "click", "select", "enter", "type", "install", "visit", "contact", "call", "join",
    "share", "send", "offer", "show", "tell", "talk", "listen", "watch", "play", "work", "study", "review",
    "compare", "test", "cut", "wash", "clean", "heat", "boil", "serve", "enjoy", "instead", "next", "now",
    "once", "often", "sometimes", "always", "never", "very", "more", "less", "only", "just", "even", "still",
    "thus", "therefore", "hence", "meanwhile", "otherwise", "regular", "good", "best", "better", "high", "low",
    "new", "old", "last", "final", "main", "key", "important", "simple", "different", "proper", "healthy",
    "being", "having", "using", "making", "getting", "taking", "doing", "people", "students", "customers",
    "someone", "something", "nothing", "everyone", "everything", "anyone", "anything"})
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*(?:[-*#>]+\s*|\d+[.)]\s*)*)$")


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def _runs(text: str) -> Iterable[tuple[int, list[str]]]:
    """Maximal runs of capitalised words (particles between them), each with its start offset."""
    pos = 0
    for m in _WORD_RX.finditer(text):
        if m.start() < pos or not _is_capitalised(m.group()):
            continue
        words, end = [m.group()], m.end()
        while True:
            if (n := _NEXT.match(text, end)) and _is_capitalised(n.group(2)):
                words += n.group(1).split() + [n.group(2)]
            elif ((n := _ABBREVIATED.match(text, end)) and _is_capitalised(n.group(1))
                  and (len(words[-1]) == 1 or words[-1].lower() in _TITLES)):
                words.append(n.group(1))
            else:
                break
            end = n.end()
        pos = end
        yield m.start(), words


def real_items(text: str) -> list[str]:
    """The specific items of a real-text answer, in order of appearance (rules in the module doc)."""
    items: list[tuple[int, str]] = []
    spans = []
    for rx in (_DATE, _NUMBER):
        for m in rx.finditer(text):
            marker = rx is _NUMBER and text[m.end():m.end() + 1] in (".", ")") and \
                _LIST_NUMBER.search(text[:m.start()])
            if not marker and not any(a <= m.start() < b for a, b in spans):
                spans.append((m.start(), m.end()))
                items.append((m.start(), m.group()))
    masked = list(text)
    for a, b in spans:
        masked[a:b] = " " * (b - a)
    masked = "".join(masked)
    for start, words in _runs(masked):
        while words and words[-1].lower() in _PARTICLES:
            words.pop()
        at_start = bool(_SENTENCE_START.search(masked[:start]))
        # a lone capitalised word that opens a sentence goes if it is a common opener ("However",
        # "Eat"); in a longer run only a function word goes ("The Beatles" keeps "Beatles", but
        # "New York" stays whole)
        if words and at_start and words[0].lower() in (OPENERS if len(words) == 1 else STYLE_WORDS):
            words = words[1:]
            while words and words[0].lower() in _PARTICLES:
                words = words[1:]
        if words and words != ["I"]:  # the pronoun
            items.append((start, re.sub(r"['’]s?$", "", " ".join(words))))  # "Earth's" is Earth
    return [s for _, s in sorted(items)]


def world_items(text: str, vocabulary: Iterable[str]) -> list[str]:
    """The world's specific items in an answer: its words that are entity names or attribute values."""
    vocab = set(vocabulary)
    return [w for w in text.split() if w in vocab]


def unsupported(items: Sequence[str], question: str, answers: Sequence[str] = ()) -> list[str]:
    """The items that occur neither in the question nor among the gold answers (module doc)."""
    asked = f" {normalize(question)} "
    golds = [g for g in (normalize(a) for a in answers) if g]
    out = []
    for item in items:
        it = normalize(item)
        if not it:
            continue
        if f" {it} " in asked or any(f" {it} " in f" {g} " or f" {g} " in f" {it} " for g in golds):
            continue
        out.append(item)
    return out


def count(items: Sequence[str], question: str, answers: Sequence[str], text: str) -> tuple[int, int]:
    """(unsupported items, words of the answer): what `score` takes for one answer."""
    return len(unsupported(items, question, answers)), len(text.split())


def score(tuned: tuple[int, int] | None, base: tuple[int, int] | None) -> dict:
    """Per-document values: unsupported items per answer and per word of the answer, of each model
    (NaN where an answer was not asked; per word NaN for an empty answer)."""
    out = {}
    for who, got in (("tuned", tuned), ("base", base)):
        n, words = got if got is not None else (NAN, 0)
        out[f"unsupported_{who}"] = float(n)
        out[f"unsupported_per_word_{who}"] = n / words if words and not math.isnan(n) else NAN
    return out
