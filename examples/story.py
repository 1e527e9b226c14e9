"""What every demo shares: a :class:`Story` that numbers and narrates its steps and checks
each claim, so a failed claim exits non-zero naming its step.

    story = Story("what-if", "An experiment on a burner branch main never sees")
    with story.step("Fork a burner branch"):
        story.agent("creates branch 'try-60-days' with a 2 s TTL")
        story.check(branch.expires_at is not None, "the branch has an expiry time")
    sys.exit(story.run(tell, story))

The last line printed is the one-line summary ``make demos`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import json
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

import memoturn


class ClaimFailed(AssertionError):
    pass


class Story:
    """A narrated demo. ``model_driven``: a chat model drives the agent, so claims about
    the words it chose are reported, not checked."""

    def __init__(self, name: str, title: str, *, model_driven: bool = False) -> None:
        self.name = name
        self.model_driven = model_driven
        self.steps = 0
        self.checks = 0
        self.skipped = 0
        self._current = ""
        self._failure: str | None = None
        print(f"== {name}: {title}")

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.steps += 1
        self._current = title
        print(f"\n[{self.steps}] {title}")
        try:
            yield
        except ClaimFailed as e:
            self._fail(f"step {self.steps} ({title}): {e}")
            raise
        except memoturn.MemoturnError as e:
            self._fail(f"step {self.steps} ({title}): memory answered {type(e).__name__}: {e}")
            raise
        except Exception as e:
            traceback.print_exc()
            self._fail(f"step {self.steps} ({title}): {type(e).__name__}: {e}")
            raise

    def _fail(self, what: str) -> None:
        if self._failure is None:
            self._failure = what
            print(f"    FAILED: {what}", flush=True)

    # -- narration ------------------------------------------------------------------------

    def agent(self, text: str) -> None:
        """What the agent (or its operator) does."""
        print(f"    agent:  {text}")

    def memory(self, text: str) -> None:
        """What memory answered."""
        print(f"    memory: {text}")

    def say(self, text: str) -> None:
        print(f"    {text}")

    def user(self, text: str) -> None:
        print(f"    user:   {text if chr(10) not in text else repr(text)}")

    # -- claims ---------------------------------------------------------------------------

    def check(self, holds: bool, claim: str, *, model_dependent: bool = False) -> None:
        """Assert ``claim``. A ``model_dependent`` claim (it depends on what a chat model
        chose to write) is only reported when a model drives the agent."""
        if model_dependent and self.model_driven:
            self.skipped += 1
            print(f"    (not checked, the model chose: {claim})")
            return
        self.checks += 1
        if not holds:
            raise ClaimFailed(claim)
        print(f"    ok:     {claim}")

    def equal(self, got: Any, want: Any, claim: str, *, model_dependent: bool = False) -> None:
        if got != want and not (model_dependent and self.model_driven):
            raise ClaimFailed(f"{claim}: got {got!r}, expected {want!r}")
        self.check(True, claim, model_dependent=model_dependent)

    def run(self, tell: Any, *args: Any) -> int:
        """Tell the story: ``tell(*args)``, a function or a coroutine function. Returns the
        exit status (0: every claim held) after printing the summary line."""
        started = time.monotonic()
        try:
            result = tell(*args)
            if inspect.iscoroutine(result):
                asyncio.run(result)
        except Exception as e:
            if self._failure is None:  # outside any step (setting up, tearing down)
                traceback.print_exc()
                self._fail(f"setting up: {type(e).__name__}: {e}")
        elapsed = f"{time.monotonic() - started:.1f} s"
        if self._failure is not None:
            print(f"{self.name}: FAILED at {self._failure}", flush=True)
            return 1
        extra = f", {self.skipped} left to the model" if self.skipped else ""
        done = f"{self.steps} steps, {self.checks} claims checked{extra}, {elapsed}"
        print(f"\n{self.name}: ok ({done})")
        return 0


def brief(value: Any, limit: int = 160) -> str:
    """A compact one-line rendering for the narration (long values shortened with '...')."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def epoch(text: str) -> float:
    """An ISO-8601 time from a tool's answer as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ago(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.0f} days ago" if days >= 1 else f"{seconds:.0f} s ago"


if __name__ == "__main__":
    sys.exit("this module is shared by the demos; run examples/<name>/main.py")
