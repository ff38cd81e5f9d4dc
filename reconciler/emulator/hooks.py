"""Lifecycle hook answers: what the Lambda functions behind hooks would return.

No Lambda runs in the emulator. A test (or the demo) says, per function, what its
hook answers; ECS-native lifecycle hooks and CodeDeploy AppSpec hooks both ask
here. A function nobody spoke about answers SUCCEEDED, as a hook that approves
everything would.
"""

from __future__ import annotations

import threading

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
IN_PROGRESS = "IN_PROGRESS"
ANSWERS = (SUCCEEDED, FAILED, IN_PROGRESS)


def function_name(target: str) -> str:
    """``my-hook`` for ``arn:aws:lambda:REGION:ACCOUNT:function:my-hook[:alias]``."""
    if not target.startswith("arn:"):
        return target
    parts = target.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else target


class HookAnswers:
    """Answers by Lambda ARN or function name; thread-safe, shared by the backends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, str] = {}

    def set(self, hook: str, answer: str) -> None:
        if answer not in ANSWERS:
            raise ValueError(f"a hook answers one of {', '.join(ANSWERS)}, not {answer!r}")
        with self._lock:
            self._answers[hook] = answer

    def answer_for(self, target: str) -> str:
        """The answer set for this ARN, else for its function name, else SUCCEEDED."""
        with self._lock:
            return self._answers.get(target, self._answers.get(function_name(target), SUCCEEDED))

    def all(self) -> dict[str, str]:
        with self._lock:
            return dict(self._answers)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
