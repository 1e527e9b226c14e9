"""A basic in-process extractor: a few fixed sentence patterns of what users say about
themselves, no model. It works offline and under ``ai_egress: deny`` (nothing leaves the
process) and gives the same answer every time. It is basic: it reads the user's own turns
only, in English, one sentence at a time, and misses anything said another way.

Patterns (case-insensitive, per sentence of a user turn):

==========================================  =========================================
the user says                                memory
==========================================  =========================================
"my X is Y" (X up to four words)             fact "The user's X is Y", topic X
"I live in Y" / "I moved to Y"               fact "The user lives in Y", topic home
"I work at/for Y"                            fact "The user works at Y", topic employer
"I am / I'm Y" (not "I'm going to ...")      fact "The user is Y"
"I like/love/enjoy/prefer Y"                 preference "The user likes/... Y"
"I don't like / dislike / hate Y"            preference "The user dislikes/hates Y"
"remind me to Y" / "I need to Y"             task "Y"
"always Y" / "never Y" / "please always Y"   instruction, the sentence as said
==========================================  =========================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memoturn.models.extractor import Candidate, TurnText

_SENTENCES = re.compile(
    r"(?<=[.!?;])\s+|\n+|,?\s+(?:and|but)\s+(?=(?:i|i'm|i’m|my)\b)|,\s+(?=(?:i'm|i’m|i am|my)\b)",
    re.I,
)
_TRAILING = re.compile(
    r"(?:,?\s+(?:please|too|as well|as i said|by the way|btw|now|recently|last (?:week|month|year)"
    r"|yesterday|today))+$",
    re.I,
)
_I = re.compile(
    r"^(?:(?:and|but|so|well|also|oh|actually|hi|hello|hey|yes|yeah|no|ok|okay|btw)\b[,!]?\s*)*",
    re.I,
)
_TRANSIENT = re.compile(
    r"^(?:going|gonna|just|not sure|sorry|afraid|here|back|done|fine|ok|okay|good|great|"
    r"glad|happy to|thinking|wondering|trying|looking|about to|on my way)\b",
    re.I,
)


def _clean(text: str) -> str:
    return _TRAILING.sub("", text.strip().rstrip(".!?;,").strip()).strip()


def _slug(words: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


def _rules() -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile(r"^my ((?:\w+\s){0,3}\w+) (?:is|are) (.+)$", re.I), "my"),
        (re.compile(r"^i (?:live in|moved to|am living in|'m living in) (.+)$", re.I), "live"),
        (re.compile(r"^i (?:work|am working|'m working) (at|for) (.+)$", re.I), "work"),
        (re.compile(r"^i (?:don't|do not) (?:like|enjoy) (.+)$", re.I), "dislike"),
        (re.compile(r"^i (dislike|hate|can't stand) (.+)$", re.I), "hate"),
        (re.compile(r"^i (like|love|enjoy|prefer|adore) (.+)$", re.I), "like"),
        (re.compile(r"^(?:please )?remind me to (.+)$", re.I), "task"),
        (re.compile(r"^i (?:need|have) to (.+)$", re.I), "task"),
        (re.compile(r"^(?:please )?(always|never) (.+)$", re.I), "instruction"),
        (re.compile(r"^i(?: am|'m|’m) (.+)$", re.I), "am"),
    ]


_RULES = _rules()


def _memory(kind: str, m: re.Match[str], sentence: str) -> tuple[str, str, str | None] | None:
    """(type, content, topic) for one matched rule, or ``None`` when it should not count."""
    if kind == "my":
        what, value = m.group(1).lower(), _clean(m.group(2))
        return "fact", f"The user's {what} is {value}", _slug(what)
    if kind == "live":
        return "fact", f"The user lives in {_clean(m.group(1))}", "home"
    if kind == "work":
        return "fact", f"The user works {m.group(1).lower()} {_clean(m.group(2))}", "employer"
    if kind == "dislike":
        return "preference", f"The user dislikes {_clean(m.group(1))}", None
    if kind == "hate":
        verb = {"dislike": "dislikes", "hate": "hates"}.get(m.group(1).lower(), "cannot stand")
        return "preference", f"The user {verb} {_clean(m.group(2))}", None
    if kind == "like":
        verb = m.group(1).lower() + "s"
        return "preference", f"The user {verb} {_clean(m.group(2))}", None
    if kind == "task":
        return "task", _clean(m.group(1))[:1].upper() + _clean(m.group(1))[1:], None
    if kind == "instruction":
        return "instruction", _clean(sentence)[:1].upper() + _clean(sentence)[1:], None
    if kind == "am":
        rest = _clean(m.group(1))
        if _TRANSIENT.match(rest) or rest.endswith("ing") or not rest:
            return None  # a passing state ("I'm going to ...", "I'm tired of waiting")
        return "fact", f"The user is {rest}", None
    raise AssertionError(kind)


class RuleExtractor:
    """The in-process extractor (see the module's docstring for what it recognises)."""

    name = "rules"
    egress = "in_process"
    max_input_tokens = 1_000_000
    reads_roles = ("user",)

    def extract(self, turns: Sequence[TurnText]) -> list[Candidate]:
        out: list[Candidate] = []
        for t in turns:
            if t.role != "user":
                continue
            for raw in _SENTENCES.split(t.content):
                sentence = _I.sub("", raw.strip()).replace("’", "'")
                if not sentence:
                    continue
                for pattern, kind in _RULES:
                    m = pattern.match(_clean(sentence))
                    if m is None:
                        continue
                    found = _memory(kind, m, sentence)
                    if found is not None:
                        out.append(Candidate(found[0], found[1], found[2], (t.turn,)))
                    break
        return out
