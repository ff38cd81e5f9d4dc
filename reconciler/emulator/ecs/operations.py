"""Task, tag and service deployment operations, and advancing services on the clock."""

from __future__ import annotations

import copy

from reconciler.emulator.ecs.arns import last_name, resource_path
from reconciler.emulator.ecs.deployments import (
    FINISHED_STATUSES,
    describe_service_deployment,
    roll_back,
)
from reconciler.emulator.ecs.errors import EcsApiError, invalid_parameter, service_not_found
from reconciler.emulator.ecs.pagination import paginate, with_token
from reconciler.emulator.ecs.records import (
    ClusterRecord,
    Json,
    ServiceDeploymentRecord,
    ServiceRecord,
    TaskDefinitionRecord,
    TaskRecord,
)
from reconciler.emulator.ecs.services import (
    check_placement,
    drain_deleted_service,
    find_cluster,
    find_service,
    platform_family,
    uses_fargate,
)
from reconciler.emulator.ecs.tags import merge_tags, remove_tags
from reconciler.emulator.ecs.taskdefs import (
    find_task_definition,
    resolve_task_definition,
)
from reconciler.emulator.ecs.tasks import (
    FARGATE_PLATFORM_VERSION,
    describe_task,
    progress_task,
    request_stop,
    start_task,
    visible,
)
from reconciler.emulator.ecs.trafficshift import stop_traffic_shift
from reconciler.emulator.ecs.world import STOPPED_TASK_RETENTION_SECONDS, World

DESCRIBE_TASKS_LIMIT = 100
RUN_TASK_LIMIT = 10
DESCRIBE_DEPLOYMENTS_LIMIT = 20

# Tasks.


def list_tasks(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    service_name = params.get("serviceName")
    if service_name is not None and find_service(cluster, service_name) is None:
        raise service_not_found()
    desired_status = params.get("desiredStatus", "RUNNING")
    family = params.get("family")
    instance = params.get("containerInstance")
    instance_arn = (
        None
        if instance is None
        else world.scope(region).container_instance(cluster.name, last_name(instance))
    )
    now = world.now()
    arns = [
        task.arn
        for task in cluster.tasks.values()
        if task.desired_status == desired_status
        and visible(task, now, STOPPED_TASK_RETENTION_SECONDS)
        and (service_name is None or task.service_name == last_name(service_name))
        and (family is None or task.task_definition.family == family)
        and (instance_arn is None or task.container_instance_arn == instance_arn)
        and (params.get("startedBy") is None or task.started_by == params["startedBy"])
        and (
            params.get("launchType") is None
            or task.placement.get("launchType") == params["launchType"]
        )
    ]
    page, token = paginate(arns, params, default_size=100)
    return with_token({"taskArns": page}, token)


def find_task(cluster: ClusterRecord, reference: str) -> TaskRecord | None:
    return cluster.tasks.get(last_name(reference))


def describe_tasks(world: World, region: str, params: Json) -> Json:
    references = params["tasks"]
    if len(references) > DESCRIBE_TASKS_LIMIT:
        raise invalid_parameter(
            f"tasks can have at most {DESCRIBE_TASKS_LIMIT} items; {len(references)} were given."
        )
    cluster = find_cluster(world, region, params.get("cluster"))
    include_tags = "TAGS" in params.get("include", [])
    now = world.now()
    described, failures = [], []
    for reference in references:
        task = find_task(cluster, reference)
        if task is None or not visible(task, now, STOPPED_TASK_RETENTION_SECONDS):
            arn = (
                reference
                if reference.startswith("arn:")
                else world.scope(region).task(cluster.name, reference)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(describe_task(task, include_tags))
    return {"tasks": described, "failures": failures}


def stop_task(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    task = find_task(cluster, params["task"])
    if task is None:
        raise invalid_parameter("The referenced task was not found.")
    request_stop(world, task, params.get("reason", "Task stopped by user"), "UserInitiated")
    service = cluster.services.get(task.service_name or "")
    if service is not None and service.deployments:
        # The service notices the stopped task and replaces it.
        service.steady = False
        world.mark_busy(region, service)
    else:
        world.mark_task_moving(region, task)
    return {"task": describe_task(task, include_tags=False)}


def run_task(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    count = params.get("count", 1)
    if not 1 <= count <= RUN_TASK_LIMIT:
        raise invalid_parameter(f"count must be between 1 and {RUN_TASK_LIMIT}.")
    task_definition = resolve_task_definition(world.region(region), params["taskDefinition"])
    settings = copy.deepcopy(params)
    if not settings.get("launchType") and not settings.get("capacityProviderStrategy"):
        default_strategy = cluster.body.get("defaultCapacityProviderStrategy") or []
        if default_strategy:
            settings["capacityProviderStrategy"] = default_strategy
        else:
            settings["launchType"] = "EC2"
    check_placement(settings, task_definition)

    placement = run_task_placement(settings, task_definition)
    tags = list(params.get("tags", []))
    if params.get("propagateTags") == "TASK_DEFINITION":
        tags = merge_tags(task_definition.tags, tags)
    extra: Json = {
        key: params[key]
        for key in ("overrides", "enableExecuteCommand", "networkConfiguration")
        if key in params
    }
    started = []
    for _ in range(count):
        task = start_task(
            world,
            region,
            cluster,
            task_definition,
            placement,
            group=params.get("group", f"family:{task_definition.family}"),
            started_by=params.get("startedBy"),
            tags=tags,
            extra=extra,
        )
        world.mark_task_moving(region, task)
        started.append(describe_task(task, include_tags=True))
    return {"tasks": started, "failures": []}


def run_task_placement(settings: Json, task_definition: TaskDefinitionRecord) -> Json:
    placement: Json = {}
    if settings.get("launchType"):
        placement["launchType"] = settings["launchType"]
    else:
        placement["capacityProviderName"] = settings["capacityProviderStrategy"][0][
            "capacityProvider"
        ]
    if uses_fargate(settings):
        version = settings.get("platformVersion", "LATEST")
        placement["platformVersion"] = FARGATE_PLATFORM_VERSION if version == "LATEST" else version
        placement["platformFamily"] = platform_family(task_definition)
    return placement


# Tags.


Tagged = ClusterRecord | ServiceRecord | TaskDefinitionRecord | TaskRecord


def find_tagged(world: World, region: str, arn: str) -> Tagged:
    path = resource_path(arn)
    if not path:
        raise invalid_parameter("The ARN provided is invalid.")
    state = world.region(region)
    kind, names = path[0], path[1:]
    found: Tagged | None = None
    if kind == "cluster" and len(names) == 1:
        found = state.clusters.get(names[0])
    elif kind == "task-definition" and len(names) == 1:
        found = find_task_definition(state, names[0]) if ":" in names[0] else None
    elif kind in ("service", "task") and len(names) == 2:
        cluster = state.clusters.get(names[0])
        if cluster is not None and kind == "service":
            found = cluster.services.get(names[1])
        elif cluster is not None:
            found = cluster.tasks.get(names[1])
    if found is None:
        raise EcsApiError("ResourceNotFoundException", "The specified resource wasn't found.")
    return found


def tag_resource(world: World, region: str, params: Json) -> Json:
    resource = find_tagged(world, region, params["resourceArn"])
    resource.tags = merge_tags(resource.tags, params["tags"])
    return {}


def untag_resource(world: World, region: str, params: Json) -> Json:
    resource = find_tagged(world, region, params["resourceArn"])
    resource.tags = remove_tags(resource.tags, params["tagKeys"])
    return {}


def list_tags_for_resource(world: World, region: str, params: Json) -> Json:
    resource = find_tagged(world, region, params["resourceArn"])
    return {"tags": copy.deepcopy(resource.tags)}


# Service deployments and revisions.


def service_of(world: World, region: str, arn: str, kind: str) -> ServiceRecord | None:
    """The service a ``service-deployment/`` or ``service-revision/`` ARN belongs to."""
    path = resource_path(arn)
    if not path or path[0] != kind or len(path) != 4:
        return None
    cluster = world.region(region).clusters.get(path[1])
    return cluster.services.get(path[2]) if cluster is not None else None


def find_service_deployment(
    world: World, region: str, arn: str
) -> tuple[ServiceRecord, ServiceDeploymentRecord] | None:
    service = service_of(world, region, arn, "service-deployment")
    if service is None:
        return None
    for tracked in service.service_deployments:
        if tracked.arn == arn:
            return service, tracked
    return None


def describe_service_deployments(world: World, region: str, params: Json) -> Json:
    arns = params["serviceDeploymentArns"]
    if len(arns) > DESCRIBE_DEPLOYMENTS_LIMIT:
        raise invalid_parameter(
            f"serviceDeploymentArns can have at most {DESCRIBE_DEPLOYMENTS_LIMIT} items."
        )
    described, failures = [], []
    for arn in arns:
        found = find_service_deployment(world, region, arn)
        if found is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(describe_service_deployment(*found))
    return {"serviceDeployments": described, "failures": failures}


def describe_service_revisions(world: World, region: str, params: Json) -> Json:
    arns = params["serviceRevisionArns"]
    if len(arns) > DESCRIBE_DEPLOYMENTS_LIMIT:
        raise invalid_parameter(
            f"serviceRevisionArns can have at most {DESCRIBE_DEPLOYMENTS_LIMIT} items."
        )
    described, failures = [], []
    for arn in arns:
        service = service_of(world, region, arn, "service-revision")
        revision = service.revisions.get(arn) if service is not None else None
        if revision is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(copy.deepcopy(revision.body))
    return {"serviceRevisions": described, "failures": failures}


def stop_service_deployment(world: World, region: str, params: Json) -> Json:
    arn = params["serviceDeploymentArn"]
    found = find_service_deployment(world, region, arn)
    if found is None:
        raise EcsApiError(
            "ServiceDeploymentNotFoundException", "The service deployment does not exist."
        )
    service, tracked = found
    if params.get("stopType", "ROLLBACK") != "ROLLBACK":
        raise EcsApiError(
            "UnsupportedFeatureException",
            "Only the ROLLBACK stop type is supported for rolling deployments.",
        )
    primary = service.primary
    in_progress = tracked.status not in FINISHED_STATUSES and not tracked.status.startswith(
        "ROLLBACK"
    )
    if primary is None or primary.service_deployment is not tracked or not in_progress:
        raise EcsApiError("ConflictException", "The service deployment is not in progress.")
    target = service.last_completed
    if target is None:
        raise invalid_parameter("The service has no completed service revision to roll back to.")
    reason = "Rollback requested by StopServiceDeployment."
    if stop_traffic_shift(service, tracked, reason):
        return {"serviceDeploymentArn": arn}
    now = world.now()
    primary.body["rolloutState"] = "FAILED"
    primary.body["rolloutStateReason"] = "Service deployment stopped: rolling back."
    primary.body["updatedAt"] = now
    roll_back(world, region, service, tracked, target, reason)
    return {"serviceDeploymentArn": arn}


# The clock.


def advance_service(world: World, region: str, service: ServiceRecord) -> bool:
    """Move one service's tasks and deployment along; True while it is still busy."""
    now = world.now()
    cluster = world.region(region).clusters[service.cluster_name]
    for task in list(service.tasks.values()):
        change = progress_task(world, task)
        if change is not None:
            count_outcome(service, task, change)
        # Stopped tasks are forgotten after a while, as ECS forgets them.
        if task.stopped and not visible(task, now, STOPPED_TASK_RETENTION_SECONDS):
            del service.tasks[task.task_id]
            cluster.tasks.pop(task.task_id, None)

    if service.status == "DRAINING":
        drain_deleted_service(world, service)
    elif service.status == "ACTIVE" and service.machine is not None:
        service.machine.step()

    moving = any(not task.stopped and not task.running for task in service.tasks.values())
    unsettled = service.machine is not None and not service.machine.settled
    return service.status == "DRAINING" or moving or (service.status == "ACTIVE" and unsettled)


def count_outcome(service: ServiceRecord, task: TaskRecord, change: str) -> None:
    """Feed a task's start or failure to its deployment's circuit breaker."""
    deployment = next(
        (d for d in service.deployments if d.deployment_id == task.deployment_id), None
    )
    if deployment is None:
        return
    breaker = service.body["deploymentConfiguration"].get("deploymentCircuitBreaker", {})
    if change == "RUNNING" and breaker.get("resetOnHealthyTask", True):
        deployment.breaker_failures = 0
    elif change == "STOPPED" and task.failed:
        deployment.failed_tasks += 1
        deployment.breaker_failures += 1
    status = deployment.service_deployment.body.get("deploymentCircuitBreaker")
    if status is not None and not deployment.rollback:
        status["failureCount"] = deployment.breaker_failures


def advance_task(world: World, task: TaskRecord) -> bool:
    """Move a task started by RunTask along; True while it is still changing."""
    progress_task(world, task)
    return not task.stopped and not task.running
