"""The control endpoints under ``/_emulator/``: what tests and the demo drive.

======  ==================  ==================================================
method  path                does
======  ==================  ==================================================
GET     health              ``{"ok": true}``
GET     clock               ``{"now": epoch seconds}`` of simulated time
POST    tick                ``{"seconds": s}`` or ``{"steps": n}``: advance time
POST    clock/run           ``{"speed": x}``: x simulated seconds per wall second
POST    clock/stop          time moves only on ``tick`` again
POST    faults              add a fault rule (see ``faults.FaultRule``)
GET     faults              the rules in force
POST    faults/clear        remove every rule (releases held calls)
POST    release             let held calls go on; stop holding new ones
GET     stats               ``{"calls": {"ecs:DescribeServices": n}, ...}``
POST    stats/reset         zero the counts
POST    reset               forget every resource, rule and count
POST    failing-images      ``{"images": [pattern, ...]}``: their tasks fail
GET     failing-images      the patterns in force
POST    seed                a seed document (YAML or JSON): create what it says
POST    hooks               ``{"hook": lambda ARN or name, "answer": SUCCEEDED,
                            FAILED or IN_PROGRESS}``: what a lifecycle hook says
GET     hooks               the answers set so far (others answer SUCCEEDED)
======  ==================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.emulator.seed import SeedError

if TYPE_CHECKING:
    from reconciler.emulator.app import Emulator

Handler = Callable[[Any, dict[str, str]], Any]


class BadRequest(Exception):
    pass


class Control:
    """Routes control requests to the emulator they steer."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "health"): lambda body, query: {"ok": True},
            ("GET", "clock"): lambda body, query: {"now": emulator.clock.now()},
            ("POST", "tick"): self._tick,
            ("POST", "clock/run"): self._run_clock,
            ("POST", "clock/stop"): self._stop_clock,
            ("POST", "faults"): self._add_fault,
            ("GET", "faults"): lambda body, query: {"rules": emulator.faults.rules()},
            ("POST", "faults/clear"): self._clear_faults,
            ("POST", "release"): lambda body, query: {"released": emulator.faults.release()},
            ("GET", "stats"): lambda body, query: emulator.faults.stats(),
            ("POST", "stats/reset"): self._reset_stats,
            ("POST", "reset"): self._reset,
            ("POST", "failing-images"): self._set_failing_images,
            ("GET", "failing-images"): lambda body, query: {"images": emulator.failing_images},
            ("POST", "seed"): self._seed,
            ("POST", "hooks"): self._answer_hook,
            ("GET", "hooks"): lambda body, query: {"answers": emulator.hooks.all()},
        }

    def __call__(
        self, method: str, path: str, body: bytes, query: dict[str, str]
    ) -> tuple[int, Any]:
        handler = self._routes.get((method, path.strip("/")))
        if handler is None:
            known = ", ".join(f"{m} {p}" for m, p in self._routes)
            return 404, {"error": f"no control endpoint {method} /_emulator/{path}; known: {known}"}
        try:
            document = _parse(body, path)
            return 200, handler(document, query)
        except (BadRequest, SeedError, ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}

    def _tick(self, body: Any, query: dict[str, str]) -> Any:
        body = body or {}
        if "seconds" in body:
            self._emulator.ticker.tick(float(body["seconds"]))
        elif "steps" in body:
            self._emulator.ticker.steps(int(body["steps"]))
        else:
            raise BadRequest('tick takes {"seconds": s} or {"steps": n}')
        return {"now": self._emulator.clock.now()}

    def _run_clock(self, body: Any, query: dict[str, str]) -> Any:
        speed = float((body or {}).get("speed", 0))
        if speed <= 0:
            raise BadRequest('clock/run takes {"speed": x} with x > 0')
        self._emulator.ticker.run_automatically(speed)
        return {"now": self._emulator.clock.now(), "speed": speed}

    def _stop_clock(self, body: Any, query: dict[str, str]) -> Any:
        self._emulator.ticker.stop_automatic()
        return {"now": self._emulator.clock.now()}

    def _add_fault(self, body: Any, query: dict[str, str]) -> Any:
        from reconciler.emulator.faults import FaultRule

        if not isinstance(body, dict):
            raise BadRequest("faults takes a JSON object")
        rule = FaultRule.from_request(body)
        self._emulator.faults.add(rule)
        return {"rules": self._emulator.faults.rules()}

    def _clear_faults(self, body: Any, query: dict[str, str]) -> Any:
        self._emulator.faults.clear()
        return {"rules": []}

    def _reset_stats(self, body: Any, query: dict[str, str]) -> Any:
        self._emulator.faults.reset_stats()
        return self._emulator.faults.stats()

    def _reset(self, body: Any, query: dict[str, str]) -> Any:
        self._emulator.reset()
        return {"ok": True}

    def _set_failing_images(self, body: Any, query: dict[str, str]) -> Any:
        images = (body or {}).get("images")
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise BadRequest('failing-images takes {"images": ["repo:tag" or a glob, ...]}')
        self._emulator.set_failing_images(images)
        return {"images": self._emulator.failing_images}

    def _answer_hook(self, body: Any, query: dict[str, str]) -> Any:
        hook, answer = (body or {}).get("hook"), (body or {}).get("answer")
        if not isinstance(hook, str) or not hook or not isinstance(answer, str):
            raise BadRequest(
                'hooks takes {"hook": "<lambda arn or name>", '
                '"answer": "SUCCEEDED" | "FAILED" | "IN_PROGRESS"}'
            )
        self._emulator.hooks.set(hook, answer)
        return {"answers": self._emulator.hooks.all()}

    def _seed(self, body: Any, query: dict[str, str]) -> Any:
        return {"created": self._emulator.apply_seed(body)}


def _parse(body: bytes, path: str) -> Any:
    if not body.strip():
        return None
    if path.strip("/") == "seed":
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise BadRequest(f"the seed document is not valid YAML: {exc}") from exc
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
