"""Re-embedding a profile-branch to another model: the engine's side.

The work is the profile's (:mod:`memoturn.profile.reembed`): batches of new vectors, each
its own transaction shipped like any write, then one transaction that swaps them in with
the model's name and dimension. Here: the egress guard on the target model, the loop, and
reopening the branch once its model changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from memoturn.embed import Embedder
from memoturn.engine.governance import GuardedEmbedder
from memoturn.profile.reembed import ReembedStatus

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine

MAIN = "main"
BATCH = 64
"""Items embedded per transaction: large enough to batch the model well, small enough that
an interrupted run loses little."""


class ReembedOps:
    """Mixin of :class:`~memoturn.engine.Engine`: re-embedding a profile to another model."""

    def reembed(
        self: Engine,
        ns: str,
        name: str,
        to: Embedder,
        *,
        branch: str = MAIN,
        batch: int = BATCH,
        progress: Callable[[ReembedStatus], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ReembedStatus:
        """Re-embed every memory, turn and document chunk of the branch with ``to``, then
        make ``to`` its model (name and dimension) in one transaction; resumes a
        re-embedding to ``to`` under way. ``progress`` is called after each batch; when
        ``stop`` says so between batches, returns with the work so far kept (call again to
        go on). Content goes to ``to`` only where the profile's effective ``ai_egress``
        allows (:class:`EgressDenied` before anything is sent, and before every batch).
        Once swapped, the branch is closed here: reopen the node with ``to`` as its
        embedder."""
        key = self._key(ns, name, branch)
        guarded = GuardedEmbedder(
            to, lambda: self.policies.effective(ns, name), f"namespace {ns!r}"
        )
        guarded.check()
        status = self._run(key, lambda p: p.reembed_begin(guarded))
        report = progress or (lambda s: None)
        report(status)
        while not (stop is not None and stop()):
            if not self._run(key, lambda p: p.reembed_batch(guarded, batch)):
                if self._run(key, lambda p: p.reembed_finish(guarded)):
                    # The open copy holds the old model's vectors and embedder.
                    self.hibernate(ns, name, branch)
                    return ReembedStatus(to.name, to.dim, None, None, status.total, status.total)
                continue  # items came in meanwhile: embed them too
            status = self._run(key, lambda p: p.reembed_status())
            report(status)
        return self._run(key, lambda p: p.reembed_status())

    def reembed_status(self: Engine, ns: str, name: str, *, branch: str = MAIN) -> ReembedStatus:
        """How far a re-embedding of the branch is (``target`` is ``None`` if none is)."""
        return self._run(self._key(ns, name, branch), lambda p: p.reembed_status())

    def reembed_abort(self: Engine, ns: str, name: str, *, branch: str = MAIN) -> ReembedStatus:
        """Drop the re-embedding under way and its new vectors; the model stays."""
        return self._run(self._key(ns, name, branch), lambda p: p.reembed_abort())
