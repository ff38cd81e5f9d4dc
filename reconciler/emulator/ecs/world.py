"""The emulator's shared state: regions, simulated time, seeded ids, failing images.

Every id comes from one random generator seeded at reset, so a scenario replayed
against a fresh emulator produces the same task ids, deployment ids and events.
"""

from __future__ import annotations

import fnmatch
import random
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.emulator.ecs.arns import ArnScope
from reconciler.emulator.ecs.records import RegionState, ServiceRecord, TaskRecord
from reconciler.emulator.hooks import HookAnswers
from reconciler.emulator.traffic import Traffic

# Seed of the id generator: fixed, so that runs are reproducible.
ID_SEED = 20141113

# How long a STOPPED task stays visible to ListTasks and DescribeTasks (ECS: about
# an hour), and how many events DescribeServices shows (ECS: the latest 100).
STOPPED_TASK_RETENTION_SECONDS = 3600.0
SERVICE_EVENT_LIMIT = 100

# The default failure rule, applied even when no pattern is set: an image whose
# tag starts with "broken" ("nginx:broken-1") fails to start. The demo uses it to
# show a circuit breaker rollback without any control call.
DEFAULT_FAILING_TAG_PREFIX = "broken"

_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def image_tag(image: str) -> str | None:
    """The tag of ``registry:5000/repo:tag`` (None when the image has no tag)."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[colon + 1 :] if colon > slash else None


class World:
    """State shared by every operation of one backend.

    ``traffic`` moves load balancer weights (None: the backend runs without a
    load balancer, and traffic-shifting strategies only report their weights);
    ``hooks`` says what each lifecycle hook answers.
    """

    def __init__(
        self,
        now: Callable[[], float],
        account_id: str,
        traffic: Traffic | None = None,
        hooks: HookAnswers | None = None,
    ) -> None:
        self.now = now
        self.account_id = account_id
        self.traffic = traffic
        self.hooks = hooks if hooks is not None else HookAnswers()
        self.failing_patterns: tuple[str, ...] = ()
        self.reset()

    def reset(self) -> None:
        self.regions: dict[str, RegionState] = {}
        self.rng = random.Random(ID_SEED)
        # Services with something in motion; advance() visits only these, so an
        # emulator with a thousand steady services stays cheap to tick.
        self.busy: dict[int, tuple[str, ServiceRecord]] = {}
        # Tasks started by RunTask that are still changing state.
        self.moving_tasks: dict[str, tuple[str, TaskRecord]] = {}

    def region(self, name: str) -> RegionState:
        return self.regions.setdefault(name, RegionState())

    def scope(self, region: str) -> ArnScope:
        return ArnScope(region, self.account_id)

    def mark_busy(self, region: str, service: ServiceRecord) -> None:
        self.busy[id(service)] = (region, service)

    def mark_task_moving(self, region: str, task: TaskRecord) -> None:
        self.moving_tasks[task.arn] = (region, task)

    # Failing images.

    def set_failing_images(self, patterns: Iterable[str]) -> None:
        self.failing_patterns = tuple(patterns)

    def image_fails(self, image: str) -> bool:
        tag = image_tag(image)
        if tag is not None and tag.startswith(DEFAULT_FAILING_TAG_PREFIX):
            return True
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in self.failing_patterns)

    # Ids, all drawn from the seeded generator.

    def new_deployment_id(self) -> str:
        return f"ecs-svc/{self.rng.randrange(10**18, 10**19)}"

    def new_task_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def new_event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_token(self, length: int = 22) -> str:
        return "".join(self.rng.choice(_TOKEN_ALPHABET) for _ in range(length))

    def new_revision_id(self) -> str:
        return str(self.rng.randrange(10**18, 10**19))

    # Service events.

    def add_event(self, service: ServiceRecord, message: str) -> None:
        event: dict[str, Any] = {
            "id": self.new_event_id(),
            "createdAt": self.now(),
            "message": f"(service {service.name}) {message}",
        }
        service.events.insert(0, event)
        del service.events[SERVICE_EVENT_LIMIT:]
