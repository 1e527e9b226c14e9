"""The pure tool layer: what a tool is, which profile a session acts on, and how one tool
call becomes one backend call.

A tool call never touches I/O here. :func:`call` checks the arguments against the schema the
session was shown, resolves the one profile-branch the call acts on (:class:`Target`), asks
the :class:`Backend` for a handle on it (the backend enforces authorisation), and runs the
tool. Errors are :class:`~memoturn.core.errors.MemoturnError`, so every edge reports them
the way the REST API does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, TypeVar

from memoturn.core import validate
from memoturn.core.api import NodeAPI, ProfileAPI
from memoturn.core.errors import Forbidden, Internal, InvalidInput, NotFound
from memoturn.core.model import Record
from memoturn.engine.tokens import PROFILE, READ, SCOPES, WRITE, Grant

R = TypeVar("R")

MAIN = "main"

Access = Literal["profile", "history", "branches"]
"""What a tool acts on: one profile-branch's data (``profile``), one branch's checkpoints
and rewind (``history``), or the profile's set of branches (``branches``: not allowed to
branch-locked tokens)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """The one profile-branch a tool call acts on."""

    namespace: str
    profile: str
    branch: str


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    """What a session is bound to, from its token and its configuration (``--namespace`` /
    ``--profile``, or ``?namespace=&profile=`` on the HTTP URL).

    ``profile=None``: every call names the profile (argument ``profile``). ``branch`` set: the
    token is locked to that branch, so no call takes a ``branch`` argument. ``scopes`` only
    shape the tool list (a read-only token is not shown write tools); the backend enforces
    them on every call.
    """

    namespace: str
    profile: str | None = None
    branch: str | None = None
    scopes: frozenset[str] = frozenset(SCOPES)
    tools: frozenset[str] | None = None
    """The tools this session may see and call (``--tools``; ``None``: every tool)."""
    compact: bool = False
    """Agent-sized answers: recall hits as ``{id, content, score}``, no null fields."""


def bind(
    claims: Grant,
    namespace: str | None = None,
    profile: str | None = None,
    *,
    tools: frozenset[str] | None = None,
    compact: bool = False,
) -> Binding:
    """The binding of a session holding a token with ``claims``, optionally narrowed to a
    namespace and profile. A profile token binds to its own profile unless told otherwise
    (authorisation then refuses any other); a namespace token leaves the profile to each
    call; the root token must be told the namespace."""
    namespace = namespace or claims.namespace
    if claims.kind == PROFILE:
        profile = profile or claims.profile
    if namespace is None:
        raise InvalidInput(
            "this token is not bound to a namespace, so the session does not know which "
            "profile to act on",
            hint="name one: --namespace NS --profile P (on HTTP: ?namespace=NS&profile=P), "
            "or use a profile or namespace token",
        )
    return Binding(namespace, profile, claims.branch, claims.scopes, tools, compact)


# -- backends ---------------------------------------------------------------------------------


class Backend(Protocol):
    """Where tool calls go. Each method authorises the call for ``scope`` (``read`` or
    ``write``) on ``target`` and runs ``run`` on a handle with the operations of
    :mod:`memoturn.core.api`: in process the engine's own, remotely the SDK's."""

    def profile(self, target: Target, scope: str, run: Callable[[ProfileAPI], R]) -> R:
        """Run on a handle on one profile-branch (``ingest``, ``recall``, ``kv_set`` ...)."""
        ...

    def history(
        self, target: Target, scope: str, run: Callable[[NodeAPI], R], *, spans_branches: bool
    ) -> R:
        """Run on the node operations of one profile's history (``create_checkpoint``,
        ``rewind``, ``create_branch`` ...). ``spans_branches``: the call acts on several
        branches, which a branch-locked token may not."""
        ...


# -- tools ------------------------------------------------------------------------------------

Answer = Record | dict[str, Any]
ProfileRun = Callable[[ProfileAPI, dict[str, Any]], Answer]
"""``run(profile, arguments) -> answer`` for tools on one profile-branch."""
NodeRun = Callable[[NodeAPI, Target, dict[str, Any]], Answer]
"""``run(node, target, arguments) -> answer`` for tools on a profile's history."""


@dataclasses.dataclass(frozen=True, slots=True)
class Tool:
    """One MCP tool: its schema and description (written for a model choosing tools) and the
    one engine operation it maps onto."""

    name: str
    operation: str
    """The :mod:`memoturn.core.api` operation this tool is."""
    title: str
    description: str
    params: Mapping[str, Mapping[str, Any]]
    """JSON-schema properties of the tool's own arguments (``profile`` and ``branch`` are
    added per session)."""
    on_profile: ProfileRun | None = None
    """How the tool runs on one profile-branch (tools of ``access="profile"``)."""
    on_node: NodeRun | None = None
    """How the tool runs on the node's history operations (the other tools)."""
    scope: str = READ
    access: Access = "profile"
    required: tuple[str, ...] = ()
    destructive: bool = False
    idempotent: bool = False
    takes_branch: bool = True
    """False for tools that act on the set of branches itself (list, delete)."""
    branch_help: str = 'The branch to act on (default "main").'

    @property
    def read_only(self) -> bool:
        return self.scope == READ

    def offered(self, binding: Binding) -> bool:
        """Whether a session with ``binding`` is shown this tool."""
        return self.withheld(binding) is None

    def withheld(self, binding: Binding) -> Forbidden | None:
        """Why the token of a session with ``binding`` cannot use this tool, if it cannot.
        (The backend decides every call; this keeps hopeless tools out of the list.)"""
        if binding.tools is not None and self.name not in binding.tools:
            return NotFound(
                f"no tool {self.name!r} in this session",
                hint="this session offers: " + ", ".join(sorted(binding.tools)),
            )
        if self.scope not in binding.scopes:
            return Forbidden(
                f"this token lacks the {self.scope!r} scope",
                hint=f"its scopes are {', '.join(sorted(binding.scopes))}",
            )
        if self.access == "branches" and binding.branch is not None:
            return Forbidden(
                f"this token is locked to branch {binding.branch!r}",
                hint="use a token that is not locked to a branch",
            )
        return None

    def properties(self, binding: Binding) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if binding.profile is None:
            props["profile"] = {
                "type": "string",
                "description": f"The profile of namespace {binding.namespace!r} to act on "
                '(a user, team or persona), e.g. "alice".',
            }
        props.update(self.params)
        if binding.branch is None and self.takes_branch:
            props["branch"] = {"type": "string", "description": self.branch_help}
        return props

    def required_for(self, binding: Binding) -> list[str]:
        return (["profile"] if binding.profile is None else []) + list(self.required)

    def input_schema(self, binding: Binding) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.properties(binding),
            "required": self.required_for(binding),
            "additionalProperties": False,
        }


def call(
    tools: Mapping[str, Tool],
    backend: Backend,
    binding: Binding,
    name: str,
    arguments: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Run one tool call; the result is JSON-ready. Raises MemoturnError."""
    tool = tools.get(name)
    if tool is None:
        raise NotFound(f"no tool {name!r}", hint="list the tools to see what is offered")
    refusal = tool.withheld(binding)
    if refusal is not None:
        raise refusal
    args = check_arguments(tool.input_schema(binding), arguments)
    profile = binding.profile or args.pop("profile")
    branch = binding.branch or args.pop("branch", None) or MAIN
    target = Target(binding.namespace, profile, branch)
    answer: Answer
    if tool.on_profile is not None:
        on_profile = tool.on_profile
        # A fresh copy per run: a refused write is made again on the writer (forwarding).
        answer = backend.profile(target, tool.scope, lambda p: on_profile(p, dict(args)))
    elif tool.on_node is not None:
        on_node = tool.on_node
        answer = backend.history(
            target,
            tool.scope,
            lambda node: on_node(node, target, dict(args)),
            spans_branches=tool.access == "branches",
        )
    else:
        raise Internal(f"tool {tool.name!r} has no way to run")
    out = answer.to_dict() if isinstance(answer, Record) else answer
    return compact(out) if binding.compact else out


def compact(answer: dict[str, Any]) -> dict[str, Any]:
    """An agent-sized answer: recall hits as ``{id, content, score}`` (and ``relevance``
    when known), and no null or empty fields anywhere."""
    if isinstance(answer.get("results"), list):
        answer = {**answer, "results": [_compact_hit(h) for h in answer["results"]]}
    return _without_nulls(answer)


def _compact_hit(hit: Any) -> Any:
    if not isinstance(hit, dict) or not isinstance(hit.get("memory"), dict):
        return hit
    item = hit["memory"]
    ident = (
        item.get("id")
        or (f"{item['session_id']}#{item['turn']}" if "turn" in item else None)
        or (f"{item.get('document_id')}#{item.get('chunk')}")
    )
    out = {"id": ident, "content": item.get("content"), "score": hit.get("score")}
    if "relevance" in hit:
        out["relevance"] = hit["relevance"]
    return out


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_nulls(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- schema helpers ---------------------------------------------------------------------------


def string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def integer(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "description": description, **extra}


def boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def one_of(values: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": values, "description": description}


def json_object(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description}


def numbers(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "number"}, "description": description}


# -- argument checks --------------------------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any] | None) -> dict:
    """The arguments as a dict, checked against the subset of JSON schema the tools use
    (required, unknown names, type, enum, array items). An optional argument given as
    ``null`` counts as absent. The engine checks everything else (lengths, ranges, names)."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InvalidInput("the tool arguments must be a JSON object")
    props: Mapping[str, Any] = schema["properties"]
    required = set(schema.get("required", ()))
    unknown = sorted(set(arguments) - set(props))
    if unknown:
        raise validate.unknown(unknown, props)
    out = {k: v for k, v in arguments.items() if v is not None or k in required}
    missing = [k for k in props if k in required and k not in out]
    if missing:
        raise validate.missing(missing)
    return {key: _checked(value, props[key], key) for key, value in out.items()}


def _checked(value: Any, schema: Mapping[str, Any], where: str) -> Any:
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is(value, k) for k in kinds):
            raise validate.wrong_type(where, " or ".join(_article(k) for k in kinds), value)
        if kinds == ["integer"] and isinstance(value, float):
            value = int(value)  # 5.0 from a JSON encoder that writes every number as float
    if "enum" in schema and value not in schema["enum"]:
        raise validate.not_one_of(where, schema["enum"], value)
    if isinstance(value, list) and "items" in schema:
        value = [_checked(item, schema["items"], f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _is(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if isinstance(value, bool) and kind != "boolean":
        return False  # JSON true is not a number
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(kind, object))


def _article(kind: str) -> str:
    return {"integer": "an integer", "object": "an object", "array": "an array"}.get(
        kind, f"a {kind}"
    )


__all__ = [
    "MAIN",
    "READ",
    "WRITE",
    "Backend",
    "Binding",
    "Target",
    "Tool",
    "bind",
    "boolean",
    "call",
    "check_arguments",
    "integer",
    "json_object",
    "numbers",
    "one_of",
    "string",
]
