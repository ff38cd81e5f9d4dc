"""What the emulator remembers about ECS resources, per region.

Each record keeps the body AWS would describe (every field a caller sent plus the
defaults AWS fills in) next to the runtime state the emulator needs to move
deployments and tasks along. Records are mutable: they are the emulator's state,
guarded by the backend's lock, and never handed out; responses are copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.emulator.ecs.deployments import DeploymentMachine

Json = dict[str, Any]

# Statuses of a task that has not reached RUNNING yet, as ECS reports them.
STARTING_STATUSES = frozenset({"PROVISIONING", "PENDING"})


@dataclass(eq=False)
class TaskDefinitionRecord:
    arn: str
    family: str
    revision: int
    body: Json
    tags: list[Json]

    @property
    def active(self) -> bool:
        return bool(self.body["status"] == "ACTIVE")


@dataclass(eq=False)
class TaskRecord:
    arn: str
    task_id: str
    cluster_arn: str
    task_definition: TaskDefinitionRecord
    group: str
    started_by: str | None
    placement: Json
    containers: list[Json]
    created_at: float
    next_change_at: float
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    times: dict[str, float] = field(default_factory=dict)
    stopped_reason: str | None = None
    stop_code: str | None = None
    failed: bool = False
    tags: list[Json] = field(default_factory=list)
    service_name: str | None = None
    deployment_id: str | None = None
    extra: Json = field(default_factory=dict)
    version: int = 1
    # The simulated EC2 instance an EC2 task runs on (None on Fargate).
    container_instance_arn: str | None = None

    @property
    def live(self) -> bool:
        """Wanted running: counted by ListTasks with desiredStatus RUNNING."""
        return self.desired_status == "RUNNING"

    @property
    def running(self) -> bool:
        return self.live and self.last_status == "RUNNING"

    @property
    def starting(self) -> bool:
        return self.live and self.last_status in STARTING_STATUSES

    @property
    def stopped(self) -> bool:
        return self.last_status == "STOPPED"


@dataclass(eq=False)
class ServiceRevisionRecord:
    arn: str
    body: Json


@dataclass(eq=False)
class ServiceDeploymentRecord:
    arn: str
    body: Json
    # Traffic-shifting strategies: per service revision ARN, the weights they ask
    # for (requestedProductionTrafficWeight, requestedTestTrafficWeight).
    traffic_weights: dict[str, Json] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.body["status"])


@dataclass(eq=False)
class DeploymentRecord:
    """One entry of a service's ``deployments``: the tasks of one service revision."""

    deployment_id: str
    body: Json
    revision: ServiceRevisionRecord
    service_deployment: ServiceDeploymentRecord
    # A rollback deployment reports to the service deployment it rolls back.
    rollback: bool = False
    failed_tasks: int = 0
    # Failures the circuit breaker counts: reset by a healthy task unless told not to.
    breaker_failures: int = 0

    @property
    def status(self) -> str:
        return str(self.body["status"])


@dataclass(eq=False)
class TaskSetRecord:
    """A task set of a CODE_DEPLOY service: tasks of one revision at a scale."""

    task_set_id: str
    arn: str
    body: Json
    failed_tasks: int = 0

    @property
    def status(self) -> str:
        return str(self.body["status"])


@dataclass(eq=False)
class ServiceRecord:
    arn: str
    name: str
    cluster_name: str
    cluster_arn: str
    body: Json
    # Request fields the Service shape has no place for (serviceConnectConfiguration,
    # volumeConfigurations...): ECS reports them on deployments and revisions.
    rollout_fields: Json
    created_at: float
    tags: list[Json]
    status: str = "ACTIVE"
    deployments: list[DeploymentRecord] = field(default_factory=list)
    events: list[Json] = field(default_factory=list)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    service_deployments: list[ServiceDeploymentRecord] = field(default_factory=list)
    revisions: dict[str, ServiceRevisionRecord] = field(default_factory=dict)
    last_completed: ServiceRevisionRecord | None = None
    task_sets: list[TaskSetRecord] = field(default_factory=list)
    machine: DeploymentMachine | None = None
    steady: bool = False

    @property
    def desired_count(self) -> int:
        return int(self.body.get("desiredCount", 0))

    @property
    def primary(self) -> DeploymentRecord | None:
        return self.deployments[0] if self.deployments else None


@dataclass(eq=False)
class ContainerInstanceRecord:
    """A simulated EC2 container instance: a place for EC2 tasks, DAEMON ones above all."""

    arn: str
    instance_id: str
    ec2_instance_id: str
    body: Json
    status: str = "ACTIVE"
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


@dataclass(eq=False)
class ClusterRecord:
    arn: str
    name: str
    body: Json
    tags: list[Json]
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # In registration order; deregistered ones stay, INACTIVE, as ECS shows them.
    instances: dict[str, ContainerInstanceRecord] = field(default_factory=dict)
    # Round-robin position for placing EC2 tasks that are not DAEMON ones.
    placements: int = 0

    @property
    def active_instances(self) -> list[ContainerInstanceRecord]:
        return [instance for instance in self.instances.values() if instance.active]

    def next_instance(self) -> ContainerInstanceRecord | None:
        """Where the next EC2 task that is not a DAEMON one goes: the instances in turn."""
        active = self.active_instances
        if not active:
            return None
        chosen = active[self.placements % len(active)]
        self.placements += 1
        return chosen

    @property
    def active(self) -> bool:
        return bool(self.body["status"] == "ACTIVE")


@dataclass(eq=False)
class RegionState:
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)
    families: dict[str, list[TaskDefinitionRecord]] = field(default_factory=dict)
