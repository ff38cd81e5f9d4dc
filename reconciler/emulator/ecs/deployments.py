"""Deployments that progress on the simulated clock: one state machine per kind.

A service always has one PRIMARY deployment (what it should run) and, during a
rollout, ACTIVE ones that drain. Each kind of deployment is a class that follows
:class:`DeploymentMachine`: the backend calls ``step`` once per clock step while
the service is busy. ECS's rolling update is :class:`RollingDeployment`; the
ECS-native blue/green, linear and canary strategies live in ``trafficshift``
and CODE_DEPLOY task sets in ``tasksets``; :func:`machine_for` chooses.

The rolling scheduler, on each step, after tasks have moved on:

1. stops PRIMARY tasks beyond the desired count (scale in);
2. starts PRIMARY tasks while the service's non-stopped tasks stay within
   ``desiredCount * maximumPercent / 100``;
3. stops tasks of older deployments while RUNNING tasks stay at or above
   ``desiredCount * minimumHealthyPercent / 100``;
4. completes the rollout when the PRIMARY runs its desired count and nothing
   else is left, adding the "deployment completed" and "steady state" events.

Tasks of the PRIMARY that fail to start feed the deployment circuit breaker,
which fails the rollout at its threshold and, when asked to, rolls back to the
service revision of the last completed deployment.
"""

from __future__ import annotations

import copy
import math
from typing import Protocol

from reconciler.emulator.ecs.records import (
    ContainerInstanceRecord,
    DeploymentRecord,
    Json,
    ServiceDeploymentRecord,
    ServiceRecord,
    ServiceRevisionRecord,
    TaskDefinitionRecord,
    TaskRecord,
)
from reconciler.emulator.ecs.taskdefs import find_task_definition
from reconciler.emulator.ecs.tasks import FARGATE_PLATFORM_VERSION, request_stop, start_task
from reconciler.emulator.ecs.world import World

# The deployment circuit breaker's default threshold: half the desired count,
# bounded to 3..200 failed tasks (ECS's BOUNDED_PERCENT with a value of 50).
BREAKER_DEFAULT_PERCENT = 50
BREAKER_MIN_THRESHOLD = 3
BREAKER_MAX_THRESHOLD = 200

BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
SCHEDULER_STOP_CODE = "ServiceSchedulerInitiated"

# Service deployment statuses after which nothing more happens to it.
FINISHED_STATUSES = frozenset({"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})


class DeploymentMachine(Protocol):
    """One kind of deployment driving a service towards what it should run."""

    @property
    def settled(self) -> bool:
        """Nothing more will happen until a task or a request changes something."""
        ...

    def step(self) -> None: ...


def breaker_settings(service: ServiceRecord) -> Json:
    config = service.body.get("deploymentConfiguration", {})
    return dict(config.get("deploymentCircuitBreaker", {"enable": False, "rollback": False}))


def breaker_threshold(service: ServiceRecord) -> int:
    """How many failed tasks trip the circuit breaker, as ECS computes it."""
    settings = breaker_settings(service).get("thresholdConfiguration", {})
    kind = settings.get("type", "BOUNDED_PERCENT")
    value = int(settings.get("value", BREAKER_DEFAULT_PERCENT))
    if kind == "COUNT":
        return max(1, value)
    threshold = math.ceil(service.desired_count * value / 100)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, threshold)
    return min(BREAKER_MAX_THRESHOLD, max(BREAKER_MIN_THRESHOLD, threshold))


def task_ids(tasks: list[TaskRecord]) -> str:
    return " ".join(f"(task {task.task_id})" for task in tasks)


class RollingDeployment:
    """ECS's rolling update (strategy ROLLING, deployment controller ECS)."""

    def __init__(
        self,
        world: World,
        region: str,
        service: ServiceRecord,
        deployment: DeploymentRecord,
        rollback_of: ServiceDeploymentRecord | None = None,
    ) -> None:
        self.world = world
        self.region = region
        self.service = service
        self._deployment = deployment
        self.rollback_of = rollback_of
        # A failed deployment launches nothing more (the circuit breaker stopped it).
        self.halted = False

    @property
    def deployment(self) -> DeploymentRecord:
        return self._deployment

    @property
    def settled(self) -> bool:
        return self.halted or self.service.steady

    @property
    def in_progress(self) -> bool:
        return bool(self._deployment.body["rolloutState"] == "IN_PROGRESS")

    def step(self) -> None:
        service, primary = self.service, self._deployment
        desired = service.desired_count
        primary.body["desiredCount"] = desired
        config = service.body["deploymentConfiguration"]
        max_total = math.floor(desired * config["maximumPercent"] / 100)
        min_healthy = math.ceil(desired * config["minimumHealthyPercent"] / 100)

        if self.in_progress and self.breaker_tripped():
            self.fail_rollout()
            return

        # Scale in first: PRIMARY tasks beyond the desired count, not yet running first.
        primary_live = self.live_tasks(primary)
        excess = len(primary_live) - desired
        if excess > 0:
            surplus = sorted(primary_live, key=lambda task: task.running)[:excess]
            self.stop_tasks(surplus)
            primary_live = self.live_tasks(primary)

        # Start what the PRIMARY lacks, within maximumPercent.
        if not self.halted:
            non_stopped = sum(1 for task in service.tasks.values() if not task.stopped)
            count = min(desired - len(primary_live), max_total - non_stopped)
            if count > 0:
                self.start_tasks(count)

        # Drain older deployments within minimumHealthyPercent.
        self.drain_old_deployments(min_healthy)
        self.finish_if_done()

    def breaker_tripped(self) -> bool:
        if not breaker_settings(self.service).get("enable"):
            return False
        return self._deployment.breaker_failures >= breaker_threshold(self.service)

    def live_tasks(self, deployment: DeploymentRecord) -> list[TaskRecord]:
        return [
            task
            for task in self.service.tasks.values()
            if task.live and task.deployment_id == deployment.deployment_id
        ]

    def start_tasks(
        self, count: int, instances: list[ContainerInstanceRecord] | None = None
    ) -> None:
        """Start ``count`` PRIMARY tasks, on ``instances`` one each when given."""
        service, primary = self.service, self._deployment
        cluster = self.world.region(self.region).clusters[service.cluster_name]
        task_definition = primary_task_definition(self.world, self.region, primary)
        placement = task_placement(primary)
        started = []
        for index in range(count):
            task = start_task(
                self.world,
                self.region,
                cluster,
                task_definition,
                placement,
                group=f"service:{service.name}",
                started_by=primary.deployment_id,
                service_name=service.name,
                deployment_id=primary.deployment_id,
                tags=service.tags if service.body.get("propagateTags") == "SERVICE" else [],
                extra={"enableExecuteCommand": service.body.get("enableExecuteCommand", False)},
                container_instance=instances[index] if instances is not None else None,
            )
            service.tasks[task.task_id] = task
            started.append(task)
        service.steady = False
        self.world.add_event(service, f"has started {count} tasks: {task_ids(started)}.")

    def stop_tasks(self, tasks: list[TaskRecord]) -> None:
        if not tasks:
            return
        reason = f"Scaling activity initiated by (deployment {self._deployment.deployment_id})"
        for task in tasks:
            request_stop(self.world, task, reason, SCHEDULER_STOP_CODE)
        self.service.steady = False
        self.world.add_event(
            self.service, f"has stopped {len(tasks)} running tasks: {task_ids(tasks)}."
        )

    def drain_old_deployments(self, min_healthy: int) -> None:
        service = self.service
        running = sum(1 for task in service.tasks.values() if task.running)
        allowance = running - min_healthy
        if allowance <= 0 and self.stalled():
            allowance = 1
        to_stop: list[TaskRecord] = []
        for deployment in service.deployments[1:]:
            for task in self.live_tasks(deployment):
                # A task that never became healthy can go at once; a running one
                # only while enough others keep serving.
                if task.starting:
                    to_stop.append(task)
                elif allowance > 0:
                    to_stop.append(task)
                    allowance -= 1
        self.stop_tasks(to_stop)
        for deployment in service.deployments[1:]:
            deployment.body["desiredCount"] = len(self.live_tasks(deployment))

    def stalled(self) -> bool:
        """True when maximumPercent and minimumHealthyPercent together allow no move.

        ECS still makes progress then (for example one task at 100%/100%): it
        replaces one task at a time rather than waiting forever.
        """
        return not any(
            task.starting or task.last_status == "STOPPING" for task in self.service.tasks.values()
        )

    def finish_if_done(self) -> None:
        service, primary = self.service, self._deployment
        primary_live = self.live_tasks(primary)
        done = (
            len(primary_live) == service.desired_count
            and all(task.running for task in primary_live)
            and all(task.stopped for task in service.tasks.values() if not task.live)
            and not any(self.live_tasks(d) for d in service.deployments[1:])
        )
        if not done or self.halted:
            return
        now = self.world.now()
        if self.in_progress:
            primary.body["rolloutState"] = "COMPLETED"
            primary.body["rolloutStateReason"] = (
                f"ECS deployment {primary.deployment_id} completed."
            )
            primary.body["updatedAt"] = now
            del service.deployments[1:]
            service.last_completed = primary.revision
            finished = primary.service_deployment
            finished.body["status"] = (
                "ROLLBACK_SUCCESSFUL" if self.rollback_of is not None else "SUCCESSFUL"
            )
            finished.body["finishedAt"] = now
            finished.body["updatedAt"] = now
            breaker = finished.body.get("deploymentCircuitBreaker", {})
            if breaker.get("status") == "MONITORING":
                breaker["status"] = "MONITORING_COMPLETE"
            self.world.add_event(
                service, f"(deployment {primary.deployment_id}) deployment completed."
            )
        if not service.steady:
            service.steady = True
            self.world.add_event(service, "has reached a steady state.")

    def fail_rollout(self) -> None:
        service, primary = self.service, self._deployment
        now = self.world.now()
        self.halted = True
        primary.body["rolloutState"] = "FAILED"
        primary.body["rolloutStateReason"] = BREAKER_REASON
        primary.body["updatedAt"] = now
        tracked = primary.service_deployment
        tracked.body["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
        tracked.body["updatedAt"] = now
        self.world.add_event(
            service,
            f"(deployment {primary.deployment_id}) deployment failed: tasks failed to start.",
        )

        target = service.last_completed
        rollback = breaker_settings(service).get("rollback")
        if self.rollback_of is not None:
            # A rollback that fails is not rolled back again.
            tracked.body["status"] = "ROLLBACK_FAILED"
            tracked.body["finishedAt"] = now
        elif rollback and target is not None:
            roll_back(self.world, self.region, service, tracked, target, BREAKER_REASON)
        else:
            tracked.body["status"] = "STOPPED"
            tracked.body["statusReason"] = BREAKER_REASON
            tracked.body["stoppedAt"] = now
            tracked.body["finishedAt"] = now


def machine_for(
    world: World,
    region: str,
    service: ServiceRecord,
    deployment: DeploymentRecord,
    rollback_of: ServiceDeploymentRecord | None = None,
) -> DeploymentMachine:
    """The state machine for the kind of deployment the service asks for.

    A DAEMON service replaces its task instance by instance. A rollback always
    rolls (blue/green rollbacks too, once traffic is back on blue); otherwise
    the strategy decides. CODE_DEPLOY services have task sets
    rather than deployments and never reach this point.
    """
    # Imported here: the daemon and traffic-shifting machines build on this module.
    from reconciler.emulator.ecs.daemon import DaemonDeployment
    from reconciler.emulator.ecs.trafficshift import TRAFFIC_STRATEGIES, traffic_machine

    if service.body.get("schedulingStrategy") == "DAEMON":
        return DaemonDeployment(world, region, service, deployment, rollback_of)
    strategy = service.body["deploymentConfiguration"].get("strategy", "ROLLING")
    if rollback_of is None and strategy in TRAFFIC_STRATEGIES:
        return traffic_machine(world, region, service, deployment)
    return RollingDeployment(world, region, service, deployment, rollback_of)


def roll_back(
    world: World,
    region: str,
    service: ServiceRecord,
    tracked: ServiceDeploymentRecord,
    target: ServiceRevisionRecord,
    reason: str,
) -> DeploymentRecord:
    """Start a PRIMARY deployment of ``target``, the revision that last completed."""
    now = world.now()
    tracked.body["status"] = "ROLLBACK_IN_PROGRESS"
    tracked.body["updatedAt"] = now
    tracked.body["rollback"] = {
        "reason": reason,
        "startedAt": now,
        "serviceRevisionArn": target.arn,
    }
    # The service runs the rolled-back revision again, as DescribeServices shows.
    for key in ("taskDefinition", "networkConfiguration", "platformVersion", "launchType"):
        if key in target.body:
            service.body[key] = copy.deepcopy(target.body[key])
    deployment = start_deployment(world, region, service, target, rollback_of=tracked)
    world.add_event(service, f"rolling back to deployment {deployment.deployment_id}.")
    return deployment


def revision_counts(service: ServiceRecord, revision_arn: str) -> Json:
    requested = running = pending = 0
    for deployment in service.deployments:
        if deployment.revision.arn != revision_arn:
            continue
        requested += int(deployment.body["desiredCount"])
        for task in service.tasks.values():
            if task.deployment_id == deployment.deployment_id:
                running += task.running
                pending += task.starting
    return {
        "arn": revision_arn,
        "requestedTaskCount": requested,
        "runningTaskCount": running,
        "pendingTaskCount": pending,
    }


def describe_deployment(service: ServiceRecord, deployment: DeploymentRecord) -> Json:
    described = copy.deepcopy(deployment.body)
    tasks = [t for t in service.tasks.values() if t.deployment_id == deployment.deployment_id]
    described["runningCount"] = sum(1 for task in tasks if task.running)
    described["pendingCount"] = sum(1 for task in tasks if task.starting)
    described["failedTasks"] = deployment.failed_tasks
    return described


def describe_service_deployment(service: ServiceRecord, tracked: ServiceDeploymentRecord) -> Json:
    described = copy.deepcopy(tracked.body)
    sources = described.pop("sourceServiceRevisionArns")
    described["sourceServiceRevisions"] = [revision_counts(service, arn) for arn in sources]
    target = described.pop("targetServiceRevisionArn")
    described["targetServiceRevision"] = revision_counts(service, target)
    for summary in [*described["sourceServiceRevisions"], described["targetServiceRevision"]]:
        summary.update(tracked.traffic_weights.get(summary["arn"], {}))
    return described


def brief_service_deployment(tracked: ServiceDeploymentRecord) -> Json:
    body = tracked.body
    brief = {
        "serviceDeploymentArn": tracked.arn,
        "serviceArn": body["serviceArn"],
        "clusterArn": body["clusterArn"],
        "createdAt": body["createdAt"],
        "startedAt": body["startedAt"],
        "targetServiceRevisionArn": body["targetServiceRevisionArn"],
        "status": body["status"],
    }
    for key in ("finishedAt", "statusReason"):
        if key in body:
            brief[key] = body[key]
    return brief


def primary_task_definition(
    world: World, region: str, deployment: DeploymentRecord
) -> TaskDefinitionRecord:
    record = find_task_definition(world.region(region), deployment.body["taskDefinition"])
    assert record is not None, "a deployment always names a registered task definition"
    return record


def task_placement(deployment: DeploymentRecord) -> Json:
    """Where a deployment's tasks run: launch type or capacity provider, platform."""
    body = deployment.body
    placement: Json = {}
    if "launchType" in body:
        placement["launchType"] = body["launchType"]
    elif body.get("capacityProviderStrategy"):
        strategy = body["capacityProviderStrategy"]
        # The provider with the largest base, then weight, takes the tasks.
        chosen = max(strategy, key=lambda item: (item.get("base", 0), item.get("weight", 0)))
        placement["capacityProviderName"] = chosen["capacityProvider"]
    for key in ("platformVersion", "platformFamily"):
        if key in body:
            placement[key] = body[key]
    return placement


def start_deployment(
    world: World,
    region: str,
    service: ServiceRecord,
    revision: ServiceRevisionRecord,
    rollback_of: ServiceDeploymentRecord | None = None,
) -> DeploymentRecord:
    """Make ``revision`` the service's new PRIMARY deployment; the others drain."""
    now = world.now()
    previous = service.deployments[0] if service.deployments else None
    if previous is not None:
        previous.body["status"] = "ACTIVE"
        previous.body["updatedAt"] = now
        superseded = previous.service_deployment
        if rollback_of is None and superseded.status not in FINISHED_STATUSES:
            superseded.body["status"] = "STOPPED"
            superseded.body["statusReason"] = "Superseded by a newer service deployment."
            superseded.body["stoppedAt"] = now
            superseded.body["finishedAt"] = now
            superseded.body["updatedAt"] = now

    deployment_id = world.new_deployment_id()
    body: Json = {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": revision.body["taskDefinition"],
        "desiredCount": service.desired_count,
        "createdAt": now,
        "updatedAt": now,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }
    for key in (
        "launchType",
        "capacityProviderStrategy",
        "platformFamily",
        "networkConfiguration",
        "serviceConnectConfiguration",
        "volumeConfigurations",
        "vpcLatticeConfigurations",
        "fargateEphemeralStorage",
    ):
        if key in revision.body:
            body[key] = copy.deepcopy(revision.body[key])
    if "platformVersion" in revision.body:
        # Deployments and tasks show the platform version LATEST resolved to.
        version = revision.body["platformVersion"]
        body["platformVersion"] = FARGATE_PLATFORM_VERSION if version == "LATEST" else version

    if rollback_of is not None:
        tracked = rollback_of
    else:
        tracked = new_service_deployment(world, region, service, revision)
    deployment = DeploymentRecord(
        deployment_id, body, revision, tracked, rollback=rollback_of is not None
    )
    service.deployments.insert(0, deployment)
    service.body["taskDefinition"] = revision.body["taskDefinition"]
    service.machine = machine_for(world, region, service, deployment, rollback_of)
    service.steady = False
    world.mark_busy(region, service)
    return deployment


def new_service_deployment(
    world: World, region: str, service: ServiceRecord, revision: ServiceRevisionRecord
) -> ServiceDeploymentRecord:
    now = world.now()
    arn = world.scope(region).service_deployment(
        service.cluster_name, service.name, world.new_token()
    )
    breaker = breaker_settings(service)
    body: Json = {
        "serviceDeploymentArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisionArns": list(
            dict.fromkeys(d.revision.arn for d in service.deployments if d.revision is not revision)
        ),
        "targetServiceRevisionArn": revision.arn,
        "status": "IN_PROGRESS",
        "deploymentConfiguration": copy.deepcopy(service.body["deploymentConfiguration"]),
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if breaker.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": breaker_threshold(service),
        },
        "alarms": {"status": "DISABLED"},
    }
    tracked = ServiceDeploymentRecord(arn, body)
    service.service_deployments.append(tracked)
    return tracked
