"""Checkpoints, rewind and branches: a profile's history, for agents that experiment."""

from __future__ import annotations

from typing import Any

from memoturn.core.api import NodeAPI
from memoturn.core.errors import InvalidInput
from memoturn.mcp.tools.base import WRITE, Answer, Target, Tool, integer, string

NAME = "a-z, 0-9, '_' and '-', starting with a letter or digit"


def _checkpoint_create(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    return node.create_checkpoint(t.namespace, t.profile, args["name"], branch=t.branch)


def _checkpoint_list(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    found = node.list_checkpoints(t.namespace, t.profile, branch=t.branch)
    return {"checkpoints": [c.to_dict() for c in found]}


def _rewind(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    if ("checkpoint" in args) == ("txid" in args):
        raise InvalidInput(
            "give exactly one of checkpoint, txid",
            hint="checkpoint_list shows the checkpoints and their txids",
        )
    return node.rewind(t.namespace, t.profile, branch=t.branch, **args)


def _branch_create(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    if "from_checkpoint" in args and "from_txid" in args:
        raise InvalidInput("give at most one of from_checkpoint, from_txid")
    name = args.pop("name")
    return node.create_branch(t.namespace, t.profile, name, from_branch=t.branch, **args)


def _branch_list(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    return {"branches": [b.to_dict() for b in node.list_branches(t.namespace, t.profile)]}


def _branch_delete(node: NodeAPI, t: Target, args: dict[str, Any]) -> Answer:
    node.delete_branch(t.namespace, t.profile, args["name"])
    return {"deleted": True, "name": args["name"]}


CHECKPOINT_CREATE = Tool(
    name="checkpoint_create",
    operation="create_checkpoint",
    title="Create a checkpoint",
    description=(
        "Pin the current state of the memory under a name, instantly, so you can rewind "
        "to it later. Take one before a risky or experimental series of writes.\n"
        'Example: {"name": "before-import"}\n'
        "Returns {name, branch, txid, created_at, automatic}."
    ),
    params={"name": string(f"The checkpoint's name ({NAME}).")},
    required=("name",),
    scope=WRITE,
    access="history",
    on_node=_checkpoint_create,
)

CHECKPOINT_LIST = Tool(
    name="checkpoint_list",
    operation="list_checkpoints",
    title="List checkpoints",
    description=(
        "List the branch's checkpoints, oldest first, including the automatic "
        "'undo-rewind-N' ones each rewind keeps.\n"
        "Example: {}\n"
        "Returns {checkpoints: [{name, branch, txid, created_at, automatic}]}."
    ),
    params={},
    access="history",
    on_node=_checkpoint_list,
)

REWIND = Tool(
    name="rewind",
    operation="rewind",
    title="Rewind",
    description=(
        "Return the whole memory of the branch (memories, transcripts, KV, documents, "
        "vectors) to a checkpoint or a txid, atomically. Everything written after it is "
        "undone; the state just before is kept as 'undo_checkpoint', so rewinding to that "
        "undoes the rewind. Give exactly one of checkpoint or txid.\n"
        'Example: {"checkpoint": "before-import"}\n'
        "Returns {txid, undo_checkpoint}."
    ),
    params={
        "checkpoint": string("The checkpoint to return to."),
        "txid": integer("Or: the transaction id to return to.", minimum=0),
    },
    scope=WRITE,
    access="history",
    destructive=True,
    on_node=_rewind,
)

BRANCH_CREATE = Tool(
    name="branch_create",
    operation="create_branch",
    title="Create a branch",
    description=(
        "Fork the memory into a new branch, instantly: writes on the new branch never touch "
        "the original and the other way round. Use it to try something (a what-if, a "
        "sub-agent's scratch space) without risking the main memory, then act on it by "
        "passing branch=<name> to any tool. 'ttl_s' makes a burner branch that deletes "
        "itself.\n"
        'Example: {"name": "what-if", "from_checkpoint": "before-import", "ttl_s": 86400}\n'
        "Returns {name, parent, parent_txid, created_at, expires_at, txid}."
    ),
    params={
        "name": string(f"The new branch's name ({NAME})."),
        "from_checkpoint": string("Fork at this checkpoint of the source branch."),
        "from_txid": integer("Or: fork at this txid of the source branch.", minimum=0),
        "ttl_s": integer("Optional lifetime in seconds (a burner branch).", minimum=1),
    },
    required=("name",),
    scope=WRITE,
    access="branches",
    branch_help='The branch to fork from (default "main"); its head unless from_* is given.',
    on_node=_branch_create,
)

BRANCH_LIST = Tool(
    name="branch_list",
    operation="list_branches",
    title="List branches",
    description=(
        "List the profile's branches (main first) with their parent and head txid.\n"
        "Example: {}\n"
        "Returns {branches: [{name, parent, parent_txid, created_at, expires_at, txid}]}."
    ),
    params={},
    access="branches",
    takes_branch=False,
    on_node=_branch_list,
)

BRANCH_DELETE = Tool(
    name="branch_delete",
    operation="delete_branch",
    title="Delete a branch",
    description=(
        "Delete a branch and everything written on it. 'main' cannot be deleted, nor a "
        "branch another branch was forked from.\n"
        'Example: {"name": "what-if"}\n'
        "Returns {deleted: true, name}."
    ),
    params={"name": string("The branch to delete.")},
    required=("name",),
    scope=WRITE,
    access="branches",
    takes_branch=False,
    destructive=True,
    on_node=_branch_delete,
)

TOOLS = (CHECKPOINT_CREATE, CHECKPOINT_LIST, REWIND, BRANCH_CREATE, BRANCH_LIST, BRANCH_DELETE)
