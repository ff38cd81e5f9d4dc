"""Task sets of CODE_DEPLOY services, kept at their scale on the simulated clock.

A service with the CODE_DEPLOY deployment controller has no deployments: it has
task sets, each one revision at a scale (a percentage of the desired count).
CreateService makes the first, PRIMARY at 100%; CodeDeploy then creates a green
one, makes it PRIMARY and deletes the blue one. :class:`TaskSetScaling` is the
service's state machine: each step it starts or stops tasks so that every task
set runs ``ceil(desiredCount * scale / 100)`` tasks, and records the tasks that
failed to start so that CodeDeploy can fail its deployment.

The ECS operations CreateTaskSet, UpdateServicePrimaryTaskSet and DeleteTaskSet
stay internal: the CodeDeploy backend calls these functions through
``EcsBackend`` (AWS refuses them for CODE_DEPLOY services too).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from reconciler.emulator.ecs.errors import EcsApiError, invalid_parameter
from reconciler.emulator.ecs.records import Json, ServiceRecord, TaskRecord, TaskSetRecord
from reconciler.emulator.ecs.taskdefs import resolve_task_definition
from reconciler.emulator.ecs.tasks import FARGATE_PLATFORM_VERSION, request_stop, start_task
from reconciler.emulator.ecs.world import World

STOP_CODE = "ServiceSchedulerInitiated"

# What a task set takes from the service or the AppSpec that defines it.
TASK_SET_SETTINGS = (
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "platformFamily",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
)


@dataclass(frozen=True, slots=True)
class TaskSetState:
    """What CodeDeploy reads about one task set."""

    task_set_id: str
    status: str
    desired: int
    running: int
    pending: int
    failed: int
    steady: bool


def task_set_placement(body: Json) -> Json:
    placement: Json = {}
    if body.get("launchType"):
        placement["launchType"] = body["launchType"]
    elif body.get("capacityProviderStrategy"):
        strategy = body["capacityProviderStrategy"]
        chosen = max(strategy, key=lambda item: (item.get("base", 0), item.get("weight", 0)))
        placement["capacityProviderName"] = chosen["capacityProvider"]
    if "platformVersion" in body:
        version = body["platformVersion"]
        placement["platformVersion"] = FARGATE_PLATFORM_VERSION if version == "LATEST" else version
    if "platformFamily" in body:
        placement["platformFamily"] = body["platformFamily"]
    return placement


def find_task_set(service: ServiceRecord, task_set_id: str) -> TaskSetRecord:
    for task_set in service.task_sets:
        if task_set.task_set_id == task_set_id or task_set.arn == task_set_id:
            return task_set
    raise EcsApiError("TaskSetNotFoundException", f"The task set {task_set_id} does not exist.")


def create_task_set(
    world: World,
    region: str,
    service: ServiceRecord,
    settings: Json,
    scale_percent: float,
    *,
    primary: bool = False,
    external_id: str | None = None,
) -> TaskSetRecord:
    """A task set running ``settings["taskDefinition"]`` at ``scale_percent``."""
    task_definition = resolve_task_definition(world.region(region), settings["taskDefinition"])
    now = world.now()
    task_set_id = world.new_deployment_id()
    arn = world.scope(region).build(f"task-set/{service.cluster_name}/{service.name}/{task_set_id}")
    body: Json = {
        "id": task_set_id,
        "taskSetArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "status": "PRIMARY" if primary else "ACTIVE",
        "taskDefinition": task_definition.arn,
        "createdAt": now,
        "updatedAt": now,
        "scale": {"value": float(scale_percent), "unit": "PERCENT"},
        "stabilityStatus": "STABILIZING",
        "stabilityStatusAt": now,
        "serviceRegistries": [],
        "tags": [],
    }
    if external_id is not None:
        body["externalId"] = external_id
        body["startedBy"] = "CodeDeploy"
    for key in TASK_SET_SETTINGS:
        value = settings.get(key, service.body.get(key))
        if value is not None:
            body[key] = copy.deepcopy(value)
    if body.get("launchType") and body.get("capacityProviderStrategy"):
        raise invalid_parameter("A task set takes a launch type or a capacity provider strategy.")
    task_set = TaskSetRecord(task_set_id, arn, body)
    service.task_sets.append(task_set)
    if service.machine is None:
        service.machine = TaskSetScaling(world, region, service)
    service.steady = False
    world.mark_busy(region, service)
    return task_set


def set_task_set_scale(
    world: World, region: str, service: ServiceRecord, task_set_id: str, percent: float
) -> None:
    task_set = find_task_set(service, task_set_id)
    task_set.body["scale"] = {"value": float(percent), "unit": "PERCENT"}
    task_set.body["updatedAt"] = world.now()
    service.steady = False
    world.mark_busy(region, service)


def make_primary(world: World, service: ServiceRecord, task_set_id: str) -> None:
    """The task set becomes PRIMARY; the service now describes its task definition."""
    chosen = find_task_set(service, task_set_id)
    now = world.now()
    for task_set in service.task_sets:
        status = "PRIMARY" if task_set is chosen else "ACTIVE"
        if task_set.body["status"] != status:
            task_set.body["status"] = status
            task_set.body["updatedAt"] = now
    service.body["taskDefinition"] = chosen.body["taskDefinition"]
    for key in ("networkConfiguration", "platformVersion"):
        if key in chosen.body:
            service.body[key] = copy.deepcopy(chosen.body[key])
    world.add_event(service, f"updated the primary task set to {chosen.task_set_id}.")


def delete_task_set(world: World, region: str, service: ServiceRecord, task_set_id: str) -> None:
    """Stop the task set's tasks and forget it."""
    task_set = find_task_set(service, task_set_id)
    tasks = live_tasks(service, task_set)
    for task in tasks:
        request_stop(world, task, f"Task set {task_set.task_set_id} deleted.", STOP_CODE)
    service.task_sets.remove(task_set)
    if tasks:
        ids = " ".join(f"(task {task.task_id})" for task in tasks)
        world.add_event(service, f"has stopped {len(tasks)} running tasks: {ids}.")
    service.steady = False
    world.mark_busy(region, service)


def live_tasks(service: ServiceRecord, task_set: TaskSetRecord) -> list[TaskRecord]:
    return [
        task
        for task in service.tasks.values()
        if task.live and task.deployment_id == task_set.task_set_id
    ]


def computed_count(service: ServiceRecord, task_set: TaskSetRecord) -> int:
    return math.ceil(service.desired_count * float(task_set.body["scale"]["value"]) / 100)


def task_set_state(service: ServiceRecord, task_set: TaskSetRecord) -> TaskSetState:
    tasks = [t for t in service.tasks.values() if t.deployment_id == task_set.task_set_id]
    return TaskSetState(
        task_set_id=task_set.task_set_id,
        status=task_set.status,
        desired=computed_count(service, task_set),
        running=sum(1 for task in tasks if task.running),
        pending=sum(1 for task in tasks if task.starting),
        failed=task_set.failed_tasks,
        steady=task_set.body["stabilityStatus"] == "STEADY_STATE",
    )


def describe_task_set(service: ServiceRecord, task_set: TaskSetRecord) -> Json:
    described = copy.deepcopy(task_set.body)
    state = task_set_state(service, task_set)
    described["computedDesiredCount"] = state.desired
    described["runningCount"] = state.running
    described["pendingCount"] = state.pending
    return described


class TaskSetScaling:
    """The state machine of a CODE_DEPLOY service: every task set at its scale."""

    def __init__(self, world: World, region: str, service: ServiceRecord) -> None:
        self.world = world
        self.region = region
        self.service = service
        # Failed tasks already counted, so that each failure counts once.
        self.counted_failures: set[str] = set()

    @property
    def settled(self) -> bool:
        return all(
            task_set.body["stabilityStatus"] == "STEADY_STATE"
            for task_set in self.service.task_sets
        )

    def step(self) -> None:
        for task_set in self.service.task_sets:
            self.count_failures(task_set)
            self.scale(task_set)
        if self.settled and not self.service.steady:
            self.service.steady = True
            self.world.add_event(self.service, "has reached a steady state.")

    def count_failures(self, task_set: TaskSetRecord) -> None:
        for task in self.service.tasks.values():
            failed_here = task.failed and task.deployment_id == task_set.task_set_id
            if failed_here and task.task_id not in self.counted_failures:
                self.counted_failures.add(task.task_id)
                task_set.failed_tasks += 1

    def scale(self, task_set: TaskSetRecord) -> None:
        service, world = self.service, self.world
        wanted = computed_count(service, task_set)
        live = live_tasks(service, task_set)
        if len(live) < wanted:
            cluster = world.region(self.region).clusters[service.cluster_name]
            task_definition = resolve_task_definition(
                world.region(self.region), task_set.body["taskDefinition"]
            )
            started = [
                start_task(
                    world,
                    self.region,
                    cluster,
                    task_definition,
                    task_set_placement(task_set.body),
                    group=f"service:{service.name}",
                    started_by=task_set.task_set_id,
                    service_name=service.name,
                    deployment_id=task_set.task_set_id,
                )
                for _ in range(wanted - len(live))
            ]
            for task in started:
                service.tasks[task.task_id] = task
            ids = " ".join(f"(task {task.task_id})" for task in started)
            world.add_event(service, f"has started {len(started)} tasks: {ids}.")
        elif len(live) > wanted:
            surplus = sorted(live, key=lambda task: task.running)[: len(live) - wanted]
            for task in surplus:
                request_stop(world, task, f"Scaling task set {task_set.task_set_id}.", STOP_CODE)
        live = live_tasks(service, task_set)
        steady = len(live) == wanted and all(task.running for task in live)
        status = "STEADY_STATE" if steady else "STABILIZING"
        if task_set.body["stabilityStatus"] != status:
            task_set.body["stabilityStatus"] = status
            task_set.body["stabilityStatusAt"] = world.now()
