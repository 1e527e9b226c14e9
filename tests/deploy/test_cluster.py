"""Three nodes on SeaweedFS, started the way the chart starts pods (the image's process with
the pod environment, advertised address, fresh empty volumes: tests/deploy/imageroot.py),
under steady write load from several clients that route like a Service and retry as told.

1. A rolling restart, as a Deployment rolls (maxSurge 1, maxUnavailable 0): a new pod with
   empty volumes becomes ready, the old one leaves the endpoints, waits out its preStop and
   is SIGTERMed; one at a time, every pod.
2. A SIGKILL of the pod holding the most writer leases; it stays in the endpoints until its
   readiness probe would have failed (2 x 5 s), as on Kubernetes.

Then a fresh pod reads every profile back. Held: no acknowledged write is lost (nor written
twice); no client sees an error after its retries; each SIGTERMed pod exits 0 within its
grace period holding no live lease; during the rolling restart every write is acknowledged
within ROLLING_BOUND_S (two lease terms and a stop); writes to the killed pod's profiles
resume on the others within 15 s (the lease bound). Marked xfail: every write of the
rolling restart acknowledged within PROMPT_BOUND_S. That needs graceful stop (issue 11) to
hand leases over before the pod stops answering: today a stopping pod refuses connections
for its last seconds while its leases are still live, and the node forwarding to it answers
503 with the lease's remaining term (up to 10 s) as Retry-After.

The scenario runs once (a module fixture); each test checks one property of what it
measured, and the figures are printed (pytest -s). Loopback only; every loop is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helmchart import container, manifests
from imageroot import SECRETS, Pod, chart_values

from seaweed import make_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = 3
PROFILES = 8
CLIENTS = 4
STEADY_S = 3.0  # load before, between and after the disruptions
RETRY_BUDGET_S = 60.0  # a write not acknowledged by then is a client-visible error
READINESS_WINDOW_S = 10.0  # periodSeconds 5 x failureThreshold 2: a dead pod's endpoint
FAILOVER_BOUND_S = 15.0
ROLLING_BOUND_S = 25.0  # two lease terms (one renewed while the pod drains) + its stop (< 5 s)
PROMPT_BOUND_S = 5.0  # the same with leases handed over before a pod stops answering
GRACE_S = 60.0  # the chart's terminationGracePeriodSeconds
SCENARIO_BOUND_S = 400.0
NS = "load"


@dataclasses.dataclass
class Write:
    client: int
    seq: int
    profile: str
    started: float
    acked: float | None = None
    txid: int | None = None
    attempts: int = 0
    error: str | None = None

    @property
    def content(self) -> str:
        return f"client {self.client} write {self.seq} to {self.profile}"

    @property
    def latency(self) -> float:
        assert self.acked is not None
        return self.acked - self.started


class Endpoints:
    """The Service's endpoints: the pods a client may be routed to."""

    def __init__(self) -> None:
        self._urls: list[str] = []
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        with self._lock:
            self._urls.append(url)

    def remove(self, url: str) -> None:
        with self._lock:
            self._urls.remove(url)

    def pick(self) -> str:
        with self._lock:
            return random.choice(self._urls)


class Client(threading.Thread):
    """Writes to random profiles through random endpoints until stopped; retries a 503 after
    its Retry-After, a refused connection at once elsewhere, and an answer lost in flight
    with the same idempotency key."""

    def __init__(self, n: int, endpoints: Endpoints, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"client-{n}")
        self.n, self.endpoints, self.stop = n, endpoints, stop
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=35)
        self.writes: list[Write] = []
        self.answers: dict[str, int] = {}
        self.rng = random.Random(n)

    def run(self) -> None:
        deadline = time.monotonic() + SCENARIO_BOUND_S
        seq = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            write = Write(self.n, seq, f"p{self.rng.randrange(PROFILES)}", time.monotonic())
            self.writes.append(write)
            self.send(write)
            seq += 1
            time.sleep(0.02)
        self.http.close()

    def _count(self, what: str) -> None:
        self.answers[what] = self.answers.get(what, 0) + 1

    def send(self, w: Write) -> None:
        body = {"type": "fact", "content": w.content, "idempotency_key": f"c{w.client}-{w.seq}"}
        while time.monotonic() - w.started < RETRY_BUDGET_S:
            w.attempts += 1
            url = f"{self.endpoints.pick()}/v1/namespaces/{NS}/profiles/{w.profile}/memories"
            try:
                r = self.http.post(url, json=body)
            except httpx.ConnectError:
                self._count("connect error")
                time.sleep(0.05)
                continue
            except httpx.TransportError as e:  # sent, answer lost: the key makes it safe
                self._count(type(e).__name__)
                time.sleep(0.05)
                continue
            retry_after = r.headers.get("retry-after")
            self._count(
                f"{r.status_code} (Retry-After {retry_after})"
                if retry_after
                else str(r.status_code)
            )
            if r.status_code == 200:
                w.acked, w.txid = time.monotonic(), r.json()["txid"]
                return
            if r.status_code == 503:
                time.sleep(float(retry_after or 1))
                continue
            w.error = f"{r.status_code} {r.text[:300]}"
            return
        w.error = f"not acknowledged within {RETRY_BUDGET_S}s"


@dataclasses.dataclass
class Scenario:
    writes: list[Write]
    answers: dict[str, int]
    stored: dict[str, list[str]]
    rolling: tuple[float, float]  # monotonic start, end
    sigterm_exit: list[int]
    sigterm_stop_s: list[float]
    sigterm_leases: list[tuple[int, int]]  # live leases a pod held before SIGTERM, after exit
    killed_at: float
    killed_profiles: set[str]
    failover_s: dict[str, float]
    leases_at_kill: dict[str, int]


def live_leases(store: Any) -> dict[str, str]:
    """profile -> address of the pod holding its main branch's writer lease now."""
    out = {}
    now = time.time()
    for info in store.list(f"leases/{NS}--"):
        record = json.loads(store.get(info.key).data)
        if record["expires"] > now:
            out[info.key.split("/")[1].split("--", 1)[1]] = record["address"]
    return out


def read_all(pod: Pod, token: str, profile: str, min_txid: int) -> list[str]:
    contents: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000, "min_txid": min_txid}
        if after:
            params["after"] = after
        r = httpx.get(
            f"{pod.url}/v1/namespaces/{NS}/profiles/{profile}/memories",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page = r.json()["memories"]
        contents += [m["content"] for m in page]
        if len(page) < 1000:
            return contents
        after = page[-1]["id"]


def run_scenario(root: Path, s3: str) -> Scenario:
    prefix = f"cluster/{uuid.uuid4().hex[:12]}"
    values = chart_values(s3, prefix)
    c = container(manifests(values))
    pre_stop_s = float(c["lifecycle"]["preStop"]["exec"]["command"][1])
    store = make_store(s3, prefix)
    pods: list[Pod] = []

    def new_pod(name: str) -> Pod:
        pod = Pod(root, f"{name}-{prefix[-6:]}", values, SECRETS)
        pods.append(pod)
        return pod.start()

    stop = threading.Event()
    clients: list[Client] = []
    try:
        live = [new_pod(f"node{i}") for i in range(NODES)]
        for pod in live:
            pod.wait_ready()
        token = live[0].root_token()
        auth = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{live[0].url}/v1/namespaces", json={"name": NS}, headers=auth)
        for p in range(PROFILES):
            r = httpx.post(
                f"{live[0].url}/v1/namespaces/{NS}/profiles", json={"name": f"p{p}"}, headers=auth
            )
            assert r.status_code == 201, r.text
        endpoints = Endpoints()
        for pod in live:
            endpoints.add(pod.url)
        clients = [Client(n, endpoints, token, stop) for n in range(CLIENTS)]
        for cl in clients:
            cl.start()
        time.sleep(STEADY_S)

        # 1. The rolling restart.
        rolling_start = time.monotonic()
        exits, stop_times, held_before_stop, left_live = [], [], [], []
        for i, old in enumerate(list(live)):
            fresh = new_pod(f"rolled{i}").wait_ready()
            endpoints.add(fresh.url)
            endpoints.remove(old.url)
            time.sleep(pre_stop_s)  # the pod's preStop, while the endpoint change spreads
            before = [p for p, a in live_leases(store).items() if a == old.url]
            t0 = time.monotonic()
            old.signal(signal.SIGTERM)
            exits.append(old.wait())
            stop_times.append(time.monotonic() - t0)
            held_before_stop.append(len(before))
            left_live.append(sum(1 for a in live_leases(store).values() if a == old.url))
            live[live.index(old)] = fresh
        rolling_end = time.monotonic()
        time.sleep(STEADY_S)

        # 2. SIGKILL the pod holding the most writer leases.
        leases = live_leases(store)
        by_pod = {pod.url: [p for p, a in leases.items() if a == pod.url] for pod in live}
        victim = max(live, key=lambda pod: len(by_pod[pod.url]))
        killed_profiles = set(by_pod[victim.url])
        assert killed_profiles, f"no pod holds a lease: {leases}"
        killed_at = time.monotonic()
        victim.signal(signal.SIGKILL)
        victim.wait()
        time.sleep(READINESS_WINDOW_S)  # until its readiness probe has failed
        endpoints.remove(victim.url)
        live.remove(victim)
        deadline = time.monotonic() + RETRY_BUDGET_S
        while time.monotonic() < deadline:  # until every one of its profiles took a write
            done = {w.profile for cl in clients for w in list(cl.writes)
                    if w.acked and w.acked > killed_at and w.started > killed_at}  # fmt: skip
            if killed_profiles <= done:
                break
            time.sleep(0.5)
        time.sleep(STEADY_S)
        stop.set()
        for cl in clients:
            cl.join(RETRY_BUDGET_S + 40)
            assert not cl.is_alive(), f"{cl.name} did not stop"

        writes = [w for cl in clients for w in cl.writes]
        answers: dict[str, int] = {}
        for cl in clients:
            for k, v in cl.answers.items():
                answers[k] = answers.get(k, 0) + v
        failover = {}
        for profile in killed_profiles:
            after = [w.acked for w in writes if w.profile == profile and w.acked
                     and w.started > killed_at]  # fmt: skip
            failover[profile] = (min(after) - killed_at) if after else float("inf")

        # A fresh pod, empty volumes, reads everything back.
        reader = new_pod("reader").wait_ready()
        stored = {}
        for p in range(PROFILES):
            txids = [w.txid for w in writes if w.profile == f"p{p}" and w.txid]
            stored[f"p{p}"] = read_all(reader, token, f"p{p}", max(txids, default=0))
        return Scenario(
            writes=writes,
            answers=answers,
            stored=stored,
            rolling=(rolling_start, rolling_end),
            sigterm_exit=exits,
            sigterm_stop_s=stop_times,
            sigterm_leases=list(zip(held_before_stop, left_live, strict=True)),
            killed_at=killed_at,
            killed_profiles=killed_profiles,
            failover_s=failover,
            leases_at_kill={pod.name: len(by_pod[pod.url]) for pod in [*live, victim]},
        )
    finally:
        stop.set()
        for pod in pods:
            pod.kill()


def summary(result: Scenario) -> str:
    """The figures, for the log (pytest -s shows them)."""
    acked = [w for w in result.writes if w.acked]
    rolling = [w for w in acked if result.rolling[0] <= w.started <= result.rolling[1]]
    after_kill = [w for w in acked if w.started >= result.killed_at]
    slowest = max(rolling, key=lambda w: w.latency)
    failover = {p: round(s, 2) for p, s in sorted(result.failover_s.items())}
    return "\n".join(
        [
            f"cluster: {len(result.writes)} writes, {len(acked)} acknowledged, "
            f"{sum(1 for w in result.writes if w.error)} errors; answers {result.answers}",
            f"rolling restart: {len(rolling)} writes, max latency {slowest.latency:.2f}s "
            f"({slowest.profile}, {slowest.attempts} attempts, started "
            f"{slowest.started - result.rolling[0]:.1f}s in); SIGTERM exit statuses "
            f"{result.sigterm_exit}, stop times {[round(s, 2) for s in result.sigterm_stop_s]}s, "
            f"live leases held before -> left after exit {result.sigterm_leases}",
            f"SIGKILL: leases per pod {result.leases_at_kill}; failover {failover}s; "
            f"max latency after {max(w.latency for w in after_kill):.2f}s",
        ]
    )


@pytest.fixture(scope="module")
def scenario(image_root: Path, s3: str) -> Iterator[Scenario]:
    result = run_scenario(image_root, s3)
    print("\n" + summary(result))
    yield result


def test_no_acknowledged_write_is_lost_or_doubled(scenario: Scenario) -> None:
    acked = [w for w in scenario.writes if w.acked]
    assert len(acked) > 100  # the load was real
    for profile, contents in scenario.stored.items():
        assert len(contents) == len(set(contents)), f"{profile}: a write applied twice"
        expected = {w.content for w in acked if w.profile == profile}
        assert expected - set(contents) == set(), f"{profile}: acknowledged writes lost"
        attempted = {w.content for w in scenario.writes if w.profile == profile}
        assert set(contents) <= attempted


def test_no_client_visible_error_after_retries(scenario: Scenario) -> None:
    errors = [(w.profile, w.error) for w in scenario.writes if w.error]
    assert errors == []
    assert all(w.acked for w in scenario.writes)


def test_writes_resume_on_the_others_within_the_failover_bound(scenario: Scenario) -> None:
    assert scenario.killed_profiles
    assert max(scenario.failover_s.values()) <= FAILOVER_BOUND_S, scenario.failover_s


def test_sigterm_stops_each_pod_cleanly_releasing_its_leases(scenario: Scenario) -> None:
    assert scenario.sigterm_exit == [0] * NODES
    assert max(scenario.sigterm_stop_s) < GRACE_S
    assert sum(held for held, _ in scenario.sigterm_leases) > 0  # they did hold some
    assert [left for _, left in scenario.sigterm_leases] == [0] * NODES


def rolling_latencies(scenario: Scenario) -> list[float]:
    start, end = scenario.rolling
    found = [w.latency for w in scenario.writes if w.acked and start <= w.started <= end]
    assert found
    return found


def test_a_rolling_restart_acknowledges_every_write_within_the_bound(scenario: Scenario) -> None:
    assert max(rolling_latencies(scenario)) <= ROLLING_BOUND_S


@pytest.mark.xfail(
    reason="needs graceful stop (issue 11) to hand leases over before the pod stops "
    "answering; until then a write forwarded to a stopping pod gets Retry-After = the "
    "lease's remaining term",
    strict=False,
)
def test_a_rolling_restart_acknowledges_every_write_promptly(scenario: Scenario) -> None:
    assert max(rolling_latencies(scenario)) <= PROMPT_BOUND_S
