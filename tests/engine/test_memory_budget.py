"""A node with a memory budget keeps at most that much open: a wake past it hibernates the
least recently used idle branches, whose data is intact when they wake again."""

from __future__ import annotations

from memoturn.engine.engine import OPEN_FOOTPRINT_FLOOR


def test_wakes_past_the_budget_hibernate_the_least_recently_used(make_engine, clock) -> None:
    budget_mib = 3 * OPEN_FOOTPRINT_FLOOR / (1024 * 1024)  # three small profiles
    a = make_engine(memory_budget_mib=budget_mib)
    a.create_namespace("acme")
    names = [f"p{i}" for i in range(6)]
    a.create_profiles("acme", names)
    for name in names:
        clock.advance(1)
        a.profile("acme", name).kv_set("s", "k", name)
        assert a.open_profile_count() <= 3
    open_now = {key[0] for key in a._open}
    assert open_now == {"acme--p3", "acme--p4", "acme--p5"}  # the most recently used
    clock.advance(1)
    assert a.profile("acme", "p0").kv_get("s", "k").value == "p0"  # woken again, intact
    assert {key[0] for key in a._open} == {"acme--p0", "acme--p4", "acme--p5"}


def test_without_a_budget_nothing_is_hibernated_early(make_engine, clock) -> None:
    a = make_engine()
    a.create_namespace("acme")
    a.create_profiles("acme", [f"p{i}" for i in range(6)])
    for i in range(6):
        a.profile("acme", f"p{i}").kv_set("s", "k", i)
    assert a.open_profile_count() == 6
