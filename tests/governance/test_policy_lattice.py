"""The policy lattice: the effective policy (the meet) is never looser than either side,
and meet is commutative, associative and idempotent; loosens names the loosened field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memoturn.core import policy
from memoturn.core.errors import InvalidInput
from memoturn.core.policy import FIELDS, Policy

seconds = st.one_of(st.none(), st.integers(1, 10**6))
policies = st.builds(
    Policy,
    retention_s=seconds,
    task_ttl_max_s=seconds,
    ai_egress=st.sampled_from(policy.EGRESS),
    audit=st.booleans(),
    erasure_grace_s=seconds,
)
overrides = st.dictionaries(st.sampled_from(FIELDS), st.none()).flatmap(
    lambda keys: st.fixed_dictionaries(
        {
            k: {
                "retention_s": seconds,
                "task_ttl_max_s": seconds,
                "erasure_grace_s": seconds,
                "ai_egress": st.sampled_from(policy.EGRESS),
                "audit": st.booleans(),
            }[k]
            for k in keys
        }
    )
)


@given(policies, policies)
def test_meet_is_never_looser_than_either_side(a: Policy, b: Policy) -> None:
    m = policy.meet(a, b)
    assert policy.at_least_as_strict(m, a)
    assert policy.at_least_as_strict(m, b)
    # ... and it is the loosest such policy: each field is one of the two values
    for f in FIELDS:
        assert getattr(m, f) in (getattr(a, f), getattr(b, f))


@given(policies, policies, policies)
def test_meet_is_commutative_associative_idempotent(a: Policy, b: Policy, c: Policy) -> None:
    assert policy.meet(a, b) == policy.meet(b, a)
    assert policy.meet(policy.meet(a, b), c) == policy.meet(a, policy.meet(b, c))
    assert policy.meet(a, a) == a
    assert policy.meet(a, policy.TOP) == a


@given(policies, overrides)
def test_effective_never_looser_than_namespace_or_override(ns: Policy, override: dict) -> None:
    eff = policy.effective(ns, override)
    assert policy.at_least_as_strict(eff, ns)
    assert policy.at_least_as_strict(eff, policy.overlay(override))
    for f, value in override.items():
        assert policy.rank(f, getattr(eff, f)) <= policy.rank(f, value)


@given(policies, overrides)
def test_loosens_exactly_when_some_given_field_is_looser(ns: Policy, override: dict) -> None:
    field = policy.loosens(ns, override)
    looser = [
        f
        for f in FIELDS
        if f in override and policy.rank(f, override[f]) > policy.rank(f, getattr(ns, f))
    ]
    assert field == (looser[0] if looser else None)
    if field is None:  # an override that only tightens is what the profile gets
        for f, value in override.items():
            assert getattr(policy.effective(ns, override), f) == value


def test_orders_per_field() -> None:
    base = Policy(retention_s=3600, task_ttl_max_s=600, ai_egress="self_hosted", audit=True)
    assert policy.loosens(base, {"retention_s": 7200}) == "retention_s"
    assert policy.loosens(base, {"retention_s": None}) == "retention_s"
    assert policy.loosens(base, {"retention_s": 60}) is None
    assert policy.loosens(base, {"task_ttl_max_s": 601}) == "task_ttl_max_s"
    assert policy.loosens(base, {"ai_egress": "any"}) == "ai_egress"
    assert policy.loosens(base, {"ai_egress": "deny"}) is None
    assert policy.loosens(base, {"audit": False}) == "audit"
    assert policy.loosens(base, {"erasure_grace_s": 86401}) == "erasure_grace_s"
    assert policy.loosens(base, {}) is None
    assert Policy().erasure_grace_s == 24 * 3600


def test_egress_allowed() -> None:
    assert Policy(ai_egress="deny").allows_egress("in_process")
    assert not Policy(ai_egress="deny").allows_egress("self_hosted")
    assert Policy(ai_egress="self_hosted").allows_egress("self_hosted")
    assert not Policy(ai_egress="self_hosted").allows_egress("third_party")
    assert Policy(ai_egress="any").allows_egress("third_party")


def test_parse_fills_defaults_or_keeps_only_given_fields() -> None:
    assert policy.parse({"audit": True}, partial=False) == {**Policy().to_dict(), "audit": True}
    assert policy.parse({"audit": True}, partial=True) == {"audit": True}


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"retention": 5},
        {"retention_s": 0},
        {"retention_s": -1},
        {"retention_s": 1.5},
        {"retention_s": "60"},
        {"retention_s": True},
        {"task_ttl_max_s": 10**12},
        {"ai_egress": "some"},
        {"ai_egress": None},
        {"audit": "yes"},
        {"audit": None},
    ],
)
def test_parse_refuses_bad_documents(doc: object) -> None:
    with pytest.raises(InvalidInput):
        policy.parse(doc, partial=True)
