"""One error family for the whole of Memoturn.

Every error is a :class:`MemoturnError` of one coarse *kind* that tells the caller what to
do next (fix the input, authenticate, retry later ...). Each kind carries its HTTP status
and whether a retry can succeed, so the REST edge maps errors with one handler and the SDK
raises the same class back from the status code.

Messages say what happened; ``hint`` says the likely cause and the next step.
"""

from __future__ import annotations

from typing import ClassVar


class MemoturnError(Exception):
    """Base of every error Memoturn raises on purpose."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    public: ClassVar[bool] = True
    """Whether the message may go to a client. Errors of a dependency (the object store)
    name paths and object keys: the edges log them and answer :meth:`redacted`."""

    def __init__(self, message: str, *, hint: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        """The REST error body: ``{"error": {"code", "message", "hint"}}``."""
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}

    def redacted(self, reason: str, request_id: str) -> MemoturnError:
        """The same kind of error with a short ``reason`` for the client instead of the
        message, naming ``request_id`` (the log line with the details carries it)."""
        error = MemoturnError.__new__(type(self))
        MemoturnError.__init__(
            error,
            f"{reason} (request id {request_id})",
            hint="retry later; the node's log has the details under this request id"
            if self.retryable
            else "the node's log has the details under this request id",
            retry_after=self.retry_after,
        )
        return error

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(MemoturnError):
    """The request is malformed or breaks a documented rule. Fix it; do not retry as is."""

    code = "invalid"
    status = 400


class Unauthorized(MemoturnError):
    """No credentials, or credentials that are not valid (bad signature, expired)."""

    code = "unauthorized"
    status = 401


class Forbidden(MemoturnError):
    """Valid credentials that do not allow this operation on this resource."""

    code = "forbidden"
    status = 403


class NotFound(MemoturnError):
    """The named thing does not exist (or is not visible to the caller)."""

    code = "not_found"
    status = 404


class Conflict(MemoturnError):
    """The operation conflicts with the current state (exists already, lost a race)."""

    code = "conflict"
    status = 409


class TooLarge(MemoturnError):
    """The input is over a documented size limit."""

    code = "too_large"
    status = 413


class RateLimited(MemoturnError):
    """Too many requests; retry after the delay given."""

    code = "rate_limited"
    status = 429
    retryable = True


class Unavailable(MemoturnError):
    """A dependency or the owner of a resource cannot serve now; the same call may succeed
    later (``retry_after`` seconds is a good wait)."""

    code = "unavailable"
    status = 503
    retryable = True


class TxidTimeout(MemoturnError):
    """A read asked for ``min_txid`` that did not become visible in time."""

    code = "txid_timeout"
    status = 504
    retryable = True


class PolicyLoosens(InvalidInput):
    """A profile's policy override would loosen the namespace's policy (``field`` names
    where). Nothing was changed."""

    code = "policy_loosens"

    def __init__(
        self, message: str, *, hint: str = "", retry_after: float | None = None, field: str = ""
    ) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["error"]["field"] = self.field  # type: ignore[index]
        return body


class EgressDenied(Forbidden):
    """The effective ``ai_egress`` policy forbids sending this content where the node's
    model would send it."""

    code = "egress_denied"


class ExtractorFailed(MemoturnError):
    """The extraction model did not answer usefully (unreachable, refused, or its output
    was malformed after the bounded retries). Nothing of the call was applied."""

    code = "extractor_failed"
    status = 502
    retryable = True


class Internal(MemoturnError):
    """A bug or a broken invariant. Report it."""

    code = "internal"
    status = 500


#: Every concrete kind, by its code (the SDK maps REST bodies back with this).
ERROR_KINDS: dict[str, type[MemoturnError]] = {
    cls.code: cls
    for cls in (
        # Specific kinds first: a status with no known code maps to the last (the base) kind.
        PolicyLoosens,
        EgressDenied,
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        RateLimited,
        Unavailable,
        TxidTimeout,
        ExtractorFailed,
        Internal,
    )
}
