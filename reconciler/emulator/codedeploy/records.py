"""What the CodeDeploy backend remembers, per region, and the ports it works through.

Records keep the bodies CodeDeploy describes (ApplicationInfo, DeploymentGroupInfo,
DeploymentInfo) next to runtime state. They are mutable, guarded by the
backend's lock, and never handed out: responses are copies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.emulator.hooks import HookAnswers
from reconciler.emulator.traffic import Traffic

if TYPE_CHECKING:
    from reconciler.emulator.codedeploy.deployments import EcsDeployment
    from reconciler.emulator.ecs.tasksets import TaskSetState

Json = dict[str, Any]

# Seed of the id generator: fixed, so that runs are reproducible.
ID_SEED = 20141006
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class TaskSets(Protocol):
    """What CodeDeploy needs of ECS: the task sets of a CODE_DEPLOY service."""

    def describe_code_deploy_service(self, region: str, cluster: str, service: str) -> Json: ...

    def create_task_set(
        self, region: str, cluster: str, service: str, settings: Json, external_id: str
    ) -> str: ...

    def scale_task_set(
        self, region: str, cluster: str, service: str, task_set: str, percent: float
    ) -> None: ...

    def make_primary_task_set(
        self, region: str, cluster: str, service: str, task_set: str
    ) -> None: ...

    def delete_task_set(self, region: str, cluster: str, service: str, task_set: str) -> None: ...

    def task_set_states(self, region: str, cluster: str, service: str) -> list[TaskSetState]: ...


@dataclass(eq=False)
class GroupRecord:
    name: str
    body: Json
    # The revision of the last successful deployment: the next one's previousRevision.
    last_revision: Json | None = None


@dataclass(eq=False)
class ApplicationRecord:
    name: str
    body: Json
    tags: list[Json]
    groups: dict[str, GroupRecord] = field(default_factory=dict)


@dataclass(eq=False)
class RegionState:
    applications: dict[str, ApplicationRecord] = field(default_factory=dict)
    # Every deployment, oldest first, as ListDeployments pages them.
    deployments: dict[str, EcsDeployment] = field(default_factory=dict)


class CodeDeployWorld:
    """State shared by every operation and deployment of one backend."""

    def __init__(
        self,
        now: Callable[[], float],
        account_id: str,
        ecs: TaskSets,
        traffic: Traffic,
        hooks: HookAnswers,
    ) -> None:
        self.now = now
        self.account_id = account_id
        self.ecs = ecs
        self.traffic = traffic
        self.hooks = hooks
        self.reset()

    def reset(self) -> None:
        self.regions: dict[str, RegionState] = {}
        self.rng = random.Random(ID_SEED)
        self.active: dict[str, tuple[str, EcsDeployment]] = {}

    def region(self, name: str) -> RegionState:
        return self.regions.setdefault(name, RegionState())

    def new_deployment_id(self) -> str:
        return "d-" + "".join(self.rng.choice(_ID_ALPHABET) for _ in range(9))

    def new_uuid(self) -> str:
        hex_id = f"{self.rng.getrandbits(128):032x}"
        return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
