"""Extraction of memories from transcripts, orchestrated: policy check, batching under a
token budget, the model call outside every lock, the apply under the profile's lock, the
preview on a burner branch and its apply, and automatic extraction in the background.

One call :meth:`ExtractionOps._extract` runs batch after batch until the session has no
pending turns (or the call's token budget or ``max_turns`` is spent): each batch reads the
pending turns, lets go of the profile, asks the extractor, then applies the answer in one
transaction that checks nothing changed meanwhile (:mod:`memoturn.profile.extraction`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from memoturn.core import validate
from memoturn.core.errors import EgressDenied, ExtractorFailed, InvalidInput, MemoturnError
from memoturn.core.ids import new_id
from memoturn.core.model import ExtractResult, Memory, TurnOutcome
from memoturn.core.names import check_name
from memoturn.models import Extractor, RuleExtractor, TurnText, estimate_tokens
from memoturn.models.chat import render
from memoturn.profile.extraction import Applied, Pending, PendingTurn
from memoturn.profile.memories import _checked
from memoturn.storage import manifest as manifests

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, Key, OpenBranch
    from memoturn.profile.memories import _Request

log = logging.getLogger("memoturn.extraction")

PREVIEW_TTL_S = 3600
"""A preview's burner branch expires after this (apply or delete it before)."""
TOKEN_BUDGET = 50_000
"""Estimated tokens of turns one extract call sends to a model at most, by default; the
rest stay pending for the next call."""
AUTO_RETRY_S = 60.0
"""After a failed automatic extraction, the session waits this long before the next try."""
EXTRACTORS = ("node", "rules")
"""``extractor`` of a call: the node's configured one (default) or the in-process rules."""


@dataclasses.dataclass(slots=True)
class _Batch:
    turns: list[PendingTurn]
    sent: list[TurnText]
    skips: dict[int, str]
    tokens: int


class ExtractionOps:
    """Mixin of :class:`~memoturn.engine.engine.Engine`."""

    extractor: Extractor
    extraction_token_budget: int

    def _init_extraction(
        self: Engine, extractor: Extractor | None, token_budget: int | None
    ) -> None:
        self.extractor = extractor or RuleExtractor()
        self.extraction_token_budget = token_budget or TOKEN_BUDGET
        self._rules = RuleExtractor()
        self._auto_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._auto_busy: set[tuple[Key, str]] = set()
        self._auto_wait: dict[tuple[Key, str], float] = {}
        self._auto_lock = threading.Lock()

    # -- the operations ---------------------------------------------------------------------

    def _extract(
        self: Engine,
        key: Key,
        session_id: str,
        *,
        preview: bool = False,
        extractor: str | None = None,
        max_turns: int | None = None,
    ) -> ExtractResult:
        sid = _session(session_id)
        if not isinstance(preview, bool):
            raise validate.wrong_type("preview", "a boolean", preview)
        if max_turns is not None:
            validate.integer(max_turns, "max_turns", low=1, high=100_000)
        chosen = self._chosen_extractor(extractor)
        self._check_egress(key, chosen)  # before anything is read, let alone sent
        if not preview:
            return self._extract_on(key, sid, chosen, max_turns)
        self._run(key, lambda p: p.get_session(sid))  # 404 before a branch is made
        ns, name = key[0].split("--", 1)
        branch = f"extract-{new_id().lower()}"
        self.create_branch(ns, name, branch, from_branch=key[1], ttl_s=PREVIEW_TTL_S)
        done = self._extract_on((key[0], branch), sid, chosen, max_turns)
        here = self._run(key, lambda p: p.txid)  # this branch is untouched
        return dataclasses.replace(
            done, txid=here, branch=branch, branch_txid=done.txid, preview=True
        )

    def _extract_apply(self: Engine, key: Key, session_id: str, branch: str) -> ExtractResult:
        """Apply what a preview's extraction did on ``branch`` to this branch, then delete
        ``branch``. No model is called: exactly the reviewed memories are ingested (with
        the ingest rules, against this branch's current memories)."""
        sid = _session(session_id)
        check_name(branch, "branch")
        ns, name = key[0].split("--", 1)
        m, _ = manifests.load(self.store, key[0], branch)
        if m.parent is None or m.parent.branch != key[1]:
            raise InvalidInput(
                f"branch {branch!r} was not forked from {key[1]!r}",
                hint="apply a preview to the branch it was made from",
            )
        made = self._run((key[0], branch), lambda p: p.extraction_made(sid, m.parent.txid))
        if not made.turns:
            raise InvalidInput(
                f"branch {branch!r} holds no extraction of session {sid!r}",
                hint="give the branch a preview of this session answered",
            )
        requests = [_request(sid, mem) for mem in made.memories]
        vectors = self._vectors(key, requests)
        turns = [(t, h) for t, h, _ in made.turns]
        skips = {t: reason for t, _, reason in made.turns if reason}
        through = made.turns[0][0] - 1
        applied = self._run(
            key,
            lambda p: p.apply_extraction(
                sid, through, turns, requests, vectors, skips, made.extractor
            ),
        )  # fmt: skip
        self.delete_branch(ns, name, branch)
        last, pending, _ = self._run(key, lambda p: p.extraction_progress(sid))
        return ExtractResult(
            sid, applied.report, applied.txid, made.extractor, last, pending, branch=branch,
            memories=applied.memories,
        )  # fmt: skip

    # -- one extraction ---------------------------------------------------------------------

    def _extract_on(
        self: Engine, key: Key, sid: str, extractor: Extractor, max_turns: int | None
    ) -> ExtractResult:
        # A node that is not the writer forwards the call before any model is asked.
        self._run(key, lambda p: p.db.ensure_writable())
        report: list[TurnOutcome] = []
        memories: list[Memory] = []
        budget = self.extraction_token_budget
        turns_left = max_turns
        txid = self._run(key, lambda p: p.txid)
        while True:
            limit = min(1000, turns_left) if turns_left is not None else 1000
            step = self._extract_batch(key, sid, extractor, budget, limit)
            if step is None:
                break
            applied, tokens, count = step
            report.extend(applied.report)
            memories.extend(applied.memories)
            txid = applied.txid
            budget -= tokens
            if turns_left is not None:
                turns_left -= count
                if turns_left <= 0:
                    break
        last, waiting, _ = self._run(key, lambda p: p.extraction_progress(sid))
        return ExtractResult(sid, report, txid, extractor.name, last, waiting, memories=memories)

    def _extract_batch(
        self: Engine, key: Key, sid: str, extractor: Extractor, budget: int, limit: int
    ) -> tuple[Applied, int, int] | None:
        """Read, ask, apply one batch: (what was applied, its tokens, its turns), or
        ``None`` when nothing is pending (or the budget is spent)."""
        pending: Pending = self._run(key, lambda p: p.extraction_pending(sid, limit=limit))
        batch = _plan(pending.turns, extractor, budget)
        if batch is None:
            return None
        self._check_egress(key, extractor)  # the policy may have changed meanwhile
        candidates = extractor.extract(batch.sent) if batch.sent else []  # no lock held
        requests = [_candidate_request(sid, extractor, c) for c in candidates]
        vectors = self._vectors(key, requests)
        hashes = [(t.turn, t.hash) for t in batch.turns]
        applied = self._run(
            key,
            lambda p: p.apply_extraction(
                sid, pending.through, hashes, requests, vectors, batch.skips, extractor.name
            ),
        )
        return applied, batch.tokens, len(batch.turns)

    def _chosen_extractor(self: Engine, which: str | None) -> Extractor:
        if which is None or which == "node":
            return self.extractor
        if which == "rules":
            return self._rules
        raise validate.not_one_of("extractor", list(EXTRACTORS), which)

    def _check_egress(self: Engine, key: Key, extractor: Extractor) -> None:
        ns, name = key[0].split("--", 1)
        p = self.policies.effective(ns, name)
        if p.allows_egress(extractor.egress):
            return
        raise EgressDenied(
            f"the policy of namespace {ns!r} allows ai_egress={p.ai_egress!r}, but this "
            f"node's extractor {extractor.name!r} sends turns "
            f"{extractor.egress.replace('_', '-')}; nothing was read or sent",
            hint='extract with the in-process extractor (extractor: "rules"), or have root '
            "loosen the namespace's ai_egress",
        )

    def _vectors(self: Engine, key: Key, requests: list[_Request]) -> Any:
        """The embeddings of memories about to be applied, made before the apply takes
        the profile's lock (like every ingest)."""
        if not requests:
            return np.empty((0, 0), dtype=np.float32)
        return self._run(key, lambda p: p._embed([r.content for r in requests]))

    # -- automatic extraction -----------------------------------------------------------------

    def _auto_extract(self: Engine, ob: OpenBranch) -> None:
        """Start the extractions the sessions of an open branch this node writes asked for
        (``auto_extract``). With the background thread they run on a worker of their own,
        so a slow model never delays lease renewals; without it, right here."""
        if ob.closed or not ob.lease.valid():
            return
        with ob.gate.shared():
            if ob.closed:
                return
            due = ob.profile.auto_extract_due()
        now = self.clock.now()
        for sid in due:
            job = (ob.key, sid)
            with self._auto_lock:
                if job in self._auto_busy or self._auto_wait.get(job, 0.0) > now:
                    continue
                self._auto_busy.add(job)
            if self._maintainer is None:
                self._auto_run(job)
                continue
            if self._auto_pool is None:
                self._auto_pool = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="memoturn-extraction"
                )
            self._auto_pool.submit(self._auto_run, job)

    def _auto_run(self: Engine, job: tuple[Key, str]) -> None:
        key, sid = job
        try:
            done = self._extract(key, sid)
            log.info(
                "extracted %d turns of a session of %s@%s automatically (%d pending)",
                len({o.turn for o in done.report}), key[0], key[1], done.pending,
            )  # fmt: skip
        except (MemoturnError, OSError) as e:
            # A model down or a policy that forbids it: try again later, not every second.
            log.warning("automatic extraction in %s@%s failed: %s", key[0], key[1], e)
            with self._auto_lock:
                self._auto_wait[job] = self.clock.now() + AUTO_RETRY_S
        finally:
            with self._auto_lock:
                self._auto_busy.discard(job)

    def _close_extraction(self: Engine) -> None:
        if self._auto_pool is not None:
            self._auto_pool.shutdown(wait=True, cancel_futures=True)


def _session(value: object) -> str:
    sid = validate.session_id(value)
    if sid is None:
        raise InvalidInput("session_id is required")
    return sid


def _plan(turns: list[PendingTurn], extractor: Extractor, budget: int) -> _Batch | None:
    """The next batch: pending turns in order up to the extractor's per-request limit and
    the call's remaining budget. Turns the extractor does not read, or that alone are over
    its limit, are in the batch as skips (recorded, never sent). ``None``: nothing to do."""
    if not turns:
        return None
    roles = getattr(extractor, "reads_roles", None)
    batch = _Batch([], [], {}, 0)
    for t in turns:
        text = TurnText(t.turn, t.role, t.name, t.content)
        if roles is not None and t.role not in roles:
            batch.turns.append(t)
            batch.skips[t.turn] = (
                f"not a {' or '.join(roles)} turn: the {extractor.name} extractor reads "
                f"{', '.join(roles)} turns only"
            )
            continue
        tokens = estimate_tokens(render([text]))
        if tokens > extractor.max_input_tokens:
            batch.turns.append(t)
            batch.skips[t.turn] = (
                f"about {tokens} tokens: over the {extractor.name} extractor's limit of "
                f"{extractor.max_input_tokens} per request"
            )
            continue
        if batch.tokens + tokens > min(extractor.max_input_tokens, budget):
            break
        batch.turns.append(t)
        batch.sent.append(text)
        batch.tokens += tokens
    return batch if batch.turns else None


def _candidate_request(sid: str, extractor: Extractor, c: Any) -> _Request:
    try:
        return _checked(
            {"type": c.type, "content": c.content, "topic": c.topic, "session_id": sid,
             "source": f"extractor:{extractor.name}", "turn_ids": list(c.turn_ids)}
        )  # fmt: skip
    except InvalidInput as e:
        raise ExtractorFailed(
            f"the {extractor.name} extractor proposed a memory the ingest rules refuse "
            f"({e.message}); nothing was applied",
            hint="retry; if it persists the extractor's model is unsuitable",
        ) from None


def _request(sid: str, mem: Memory) -> _Request:
    return _checked(
        {"type": mem.type, "content": mem.content, "topic": mem.topic, "session_id": sid,
         "source": mem.source, "turn_ids": list(mem.turn_ids)}
    )  # fmt: skip
