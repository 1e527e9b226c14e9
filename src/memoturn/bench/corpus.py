"""Synthetic but varied memories and queries for the benchmark (deterministic by seed)."""

from __future__ import annotations

import random

_NAMES = [
    "Alice",
    "Bob",
    "Carol",
    "Dan",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Victor",
    "Walter",
    "Yara",
]
_PLACES = [
    "Lyon",
    "Osaka",
    "Berlin",
    "Lisbon",
    "Denver",
    "Nairobi",
    "Quito",
    "Oslo",
    "Hanoi",
    "Perth",
    "Austin",
    "Cork",
    "Turin",
    "Busan",
    "Leeds",
    "Porto",
]
_THINGS = [
    "espresso machine",
    "hiking boots",
    "quarterly report",
    "travel budget",
    "onboarding plan",
    "database backup",
    "garden shed",
    "violin lessons",
    "tax return",
    "wedding playlist",
    "mortgage offer",
    "kitchen renovation",
    "marathon training",
    "book club",
    "podcast episode",
    "flu vaccine",
    "car insurance",
    "birthday gift",
    "team offsite",
    "code review",
    "vacation photos",
    "tennis racket",
    "job interview",
    "sourdough starter",
    "electric bike",
    "dentist appointment",
    "piano recital",
    "pet insurance",
]
_VERBS = [
    "prefers",
    "booked",
    "cancelled",
    "mentioned",
    "is worried about",
    "finished",
    "asked about",
    "recommended",
    "forgot",
    "bought",
    "returned",
    "scheduled",
    "loves",
    "dislikes",
]
_WHEN = [
    "on Monday",
    "last week",
    "next Friday",
    "in March",
    "every morning",
    "before the holidays",
    "after lunch",
    "this weekend",
    "in two weeks",
    "yesterday",
]
_TYPES = ["fact", "preference", "event", "instruction", "fact", "event"]


def memories(n: int, seed: int = 1) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        who, what, verb = rnd.choice(_NAMES), rnd.choice(_THINGS), rnd.choice(_VERBS)
        sentence = f"{who} {verb} the {what} in {rnd.choice(_PLACES)} {rnd.choice(_WHEN)}"
        if rnd.random() < 0.3:
            sentence += f", reference {rnd.choice('ABCDEFGHJK')}{rnd.randint(100, 999)}-{i}"
        out.append(
            {
                "type": rnd.choice(_TYPES),
                "content": sentence,
                "source": rnd.choice(["planner", "chat", "mail"]),
            }
        )
    return out


def queries(n: int, seed: int = 2) -> list[str]:
    rnd = random.Random(seed)
    forms = [
        "what did {who} say about the {what}?",
        "{what} in {place}",
        "when is {who}'s {what}",
        "anything about a {what}",
        "who {verb} the {what}",
    ]
    return [
        rnd.choice(forms).format(
            who=rnd.choice(_NAMES),
            what=rnd.choice(_THINGS),
            place=rnd.choice(_PLACES),
            verb=rnd.choice(_VERBS),
        )
        for _ in range(n)
    ]
