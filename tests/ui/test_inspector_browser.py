"""The memory inspector in a real browser: headless Chromium (Debian's packages, installed
by the set-up) drives ``/ui/`` of a live node on loopback: sign in, open a profile, run a
recall, open a memory's history, compare two checkpoints, and the other views. Each view's
screenshot goes to the folder the test prints (``MEMOTURN_UI_SCREENSHOTS`` names another).
Any console error fails the test, except the network errors listed in ``EXPECTED`` (answers
the test provokes on purpose, each named).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ui.chromium import Browser, chromedriver, ensure_chromium

import memoturn
from memoturn.testing import NodeProcess

# The first run on a fresh machine installs Chromium (apt-get) in the set-up: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

EXPECTED = [
    # bob's profile token asking for alice: refused, and the page says so.
    ("/profiles/alice/", "403"),
]


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    return ensure_chromium()


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    with NodeProcess() as n:
        yield n


@pytest.fixture(scope="module")
def seeded(node) -> dict[str, str]:
    """acme/alice with memories (a superseded topic), a session, KV, a document, two
    checkpoints, a rewind and a branch; acme/bob with one memory."""
    with memoturn.Client(node.url, node.root_token) as c:
        c.create_namespace("acme")
        c.set_policy("acme", {"audit": True})
        c.create_profile("acme", "alice")
        c.create_profile("acme", "bob")
        alice = c.profile("acme", "alice")
        alice.ingest("preference", "Alice eats meat", topic="diet", source="onboarding")
        alice.ingest("fact", "Alice lives in Lyon", topic="home", source="onboarding")
        alice.ingest("instruction", "Answer Alice in French", source="settings")
        c.create_checkpoint("acme", "alice", "before-move")
        alice.ingest("preference", "Alice is vegetarian now", topic="diet", source="chat")
        alice.ingest("fact", "Alice moved to Oslo", topic="home", source="chat")
        alice.append_turn("chat-1", "user", "I moved to Oslo and stopped eating meat.")
        alice.append_turn("chat-1", "assistant", "Noted: Oslo, and vegetarian.")
        alice.kv_set("scratch", "plan", {"step": 2, "of": 3})
        alice.add_document("Oslo guide: the best vegetarian places near Grünerløkka.", title="Oslo")
        c.create_checkpoint("acme", "alice", "after-move")
        alice.ingest("fact", "Alice hates cats")  # a mistake, rewound below
        c.rewind("acme", "alice", checkpoint="after-move")
        c.create_branch("acme", "alice", "what-if", from_checkpoint="before-move")
        c.profile("acme", "alice", "what-if").ingest("fact", "Alice moved to Rome", topic="home")
        c.profile("acme", "bob").ingest("fact", "Bob plays chess")
        secret = c.profile("acme", "bob").ingest("fact", "Bob's secret to forget").memory
        c.create_checkpoint("acme", "bob", "backup")  # blocks the erasure, by name
        c.profile("acme", "bob").erase(memory_ids=[secret.id])
        ns_token = c.mint_token("acme").token
        bob_token = c.mint_token("acme", profile="bob").token
    return {"ns": ns_token, "bob": bob_token}


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    named = os.environ.get("MEMOTURN_UI_SCREENSHOTS")
    folder = Path(named) if named else tmp_path_factory.mktemp("inspector-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ninspector screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory) -> Iterator[Browser]:
    binary, driver = chromium
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    with chromedriver(driver, log) as url:
        b = Browser(url, binary)
        try:
            yield b
        finally:
            b.close()


def _errors(entries: list[dict]) -> list[dict]:
    def expected(e: dict) -> bool:
        msg = e.get("message", "")
        return e.get("source") == "network" and any(p in msg and s in msg for p, s in EXPECTED)

    return [e for e in entries if e.get("level") == "SEVERE" and not expected(e)]


def test_the_inspector_in_a_browser(node, seeded, browser: Browser, screens: Path) -> None:
    b = browser
    shot = lambda name: b.screenshot(screens / f"{name}.png")  # noqa: E731

    # Sign in with the namespace token: the profiles of acme.
    b.get(f"{node.url}/ui/")
    b.wait_for("#token")
    shot("01-sign-in")
    b.type("#token", "not a token")
    b.click("#sign-in")
    b.wait_for("#sign-in-status .error")
    b.type("#token", seeded["ns"])
    b.click("#sign-in")
    links = b.wait_for(".profile-link", count=2)
    assert len(links) == 2 and "alice" in b.text("#profiles") and "bob" in b.text("#profiles")
    assert b.run("return sessionStorage.length") == 1 and b.run("return localStorage.length") == 0
    shot("02-profiles")

    # Open alice: current memories only, superseded ones with --history.
    b.click(".profile-link[href$='/alice/memories']")
    b.wait_for("tr.memory", count=3)
    text = b.text("#view")
    assert "Alice is vegetarian now" in text and "Alice moved to Oslo" in text
    assert "Alice eats meat" not in text and "Alice hates cats" not in text  # rewound away
    shot("03-memories")

    # A memory's history: the topic's supersession timeline, oldest first.
    b.click(".topic-link[data-topic='diet']")
    b.wait_for("#history-panel .version", count=2)
    versions = b.text("#history-panel .timeline")
    assert versions.index("Alice eats meat") < versions.index("Alice is vegetarian now")
    assert len(b.find_all("#history-panel .version.old")) == 1
    shot("04-memory-history")

    # The recall playground: hits with why (keyword rank, vector rank, similarity).
    b.click(".tab[data-view='recall']")
    b.type("#recall-query", "where does Alice live")
    b.click("#recall-run")
    b.wait_for("tr.hit")
    results = b.text("#recall-results")
    assert "Alice moved to Oslo" in b.text("tr.hit")  # the first hit
    for column in ("KEYWORD RANK", "VECTOR RANK", "SIMILARITY", "RECENCY"):
        assert column in results.upper()
    shot("05-recall")

    # Sessions and transcripts, KV spaces, documents.
    b.click(".tab[data-view='sessions']")
    b.click(".session-link")
    b.wait_for("#transcript .turn", count=2)
    assert "I moved to Oslo" in b.text("#transcript")
    shot("06-sessions")
    b.click(".tab[data-view='kv']")
    b.click(".kv-link")
    b.wait_for("#kv-keys td")
    assert '"step":2' in b.text("#kv-keys")
    shot("07-kv")
    b.click(".tab[data-view='documents']")
    b.click(".doc-link")
    b.wait_for("#document pre.doc")
    assert "Grünerløkka" in b.text("#document")
    shot("08-documents")

    # History: branches and checkpoints on a time axis, the rewind visible; compare two
    # checkpoints.
    b.click(".tab[data-view='history']")
    b.wait_for("#graph .point.checkpoint", count=2)
    assert len(b.find_all("#graph .point.rewind")) == 1
    assert len(b.find_all("#graph .point.head")) == 2  # main and what-if
    b.select("#diff-from", "checkpoint:main/before-move")
    b.select("#diff-to", "checkpoint:main/after-move")
    b.click("#diff-run")
    b.wait_for("#diff-result tr.diff-row")
    diff = b.text("#diff-result")
    assert "+2" in diff and "−2" in diff
    assert "Alice is vegetarian now" in diff and "Alice eats meat" in diff
    shot("09-history-diff")
    # Points picked on the graph: the what-if head against main's head.
    b.click("#graph .point.head[data-spec='branch:what-if']")
    b.click("#graph .point.head[data-spec='branch:main']")
    b.wait_until(lambda: "branch:what-if" in b.text("#diff-result"), "the diff of two heads")
    assert "Alice moved to Rome" in b.text("#diff-result")

    # Governance: the effective policy, the audit stream, erasures (or why not).
    b.click(".tab[data-view='governance']")
    b.wait_for("#policy td")
    b.wait_until(lambda: b.text("#erasures").strip(), "the erasures part")
    b.wait_until(lambda: b.find_all("#audit table, #audit .error"), "the audit part")
    assert "retention_s" in b.text("#policy") and "ai_egress" in b.text("#policy")
    assert "(none)" in b.text("#erasures") and not b.find_all("#erasures tr.erasure")
    assert not b.find_all("#audit .error"), b.text("#audit")
    ops = b.text("#audit")
    assert len(b.find_all("#audit .audit-event")) >= 10
    assert "ingest" in ops and "rewind" in ops and "create_checkpoint" in ops
    shot("10-governance")

    # A profile token sees its profile only: bob's token lands on bob, and alice is refused.
    b.click("#sign-out")
    b.type("#token", seeded["bob"])
    b.click("#sign-in")
    b.wait_for("tr.memory")
    assert "Bob plays chess" in b.text("#view") and "profile acme/bob" in b.text("#who")
    assert not b.find_all(".crumbs a[href='#/ns/acme']")  # no way up to the namespace
    b.get(f"{node.url}/ui/#/p/acme/alice/memories")
    b.wait_for("#view .error")
    assert "403" in b.text("#view .error") and "Alice" not in b.text("#view")
    b.get(f"{node.url}/ui/#/p/acme/bob/governance")
    b.wait_for("#policy td")
    assert "namespace's token" in b.text("#audit")
    b.wait_for("#erasures tr.erasure")
    erasures = b.text("#erasures")
    assert "blocked" in erasures and "checkpoint backup (main, txid" in erasures, erasures
    assert "secret" not in erasures
    shot("11-erasures")

    b.read_console()
    assert _errors(b.console) == [], b.console
    assert sorted(p.name for p in screens.glob("*.png"))[0] == "01-sign-in.png"
