"""Services: created and updated with AWS's defaults, described, deleted, advanced."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from reconciler.emulator.ecs.arns import last_name
from reconciler.emulator.ecs.deployments import (
    brief_service_deployment,
    describe_deployment,
    revision_counts,
    start_deployment,
)
from reconciler.emulator.ecs.errors import (
    EcsApiError,
    cluster_not_found,
    invalid_parameter,
    service_not_found,
)
from reconciler.emulator.ecs.pagination import paginate, with_token
from reconciler.emulator.ecs.records import (
    ClusterRecord,
    Json,
    ServiceRecord,
    ServiceRevisionRecord,
    TaskDefinitionRecord,
)
from reconciler.emulator.ecs.tags import check_tags
from reconciler.emulator.ecs.taskdefs import check_launchable, resolve_task_definition
from reconciler.emulator.ecs.tasks import request_stop
from reconciler.emulator.ecs.tasksets import create_task_set, describe_task_set
from reconciler.emulator.ecs.trafficshift import TRAFFIC_STRATEGIES, check_traffic_settings
from reconciler.emulator.ecs.validation import shape_members
from reconciler.emulator.ecs.world import World

# DescribeServices takes at most 10 services per call, as on AWS.
DESCRIBE_SERVICES_LIMIT = 10

FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})

# Request members that are not fields of the Service itself.
_REQUEST_ONLY = frozenset(
    {"cluster", "role", "clientToken", "tags", "forceNewDeployment", "service"}
)

# Settings that, when changed by UpdateService, make ECS start a new deployment.
_DEPLOYMENT_SETTINGS = (
    "taskDefinition",
    "networkConfiguration",
    "capacityProviderStrategy",
    "launchType",
    "platformVersion",
    "loadBalancers",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)

DEFAULT_DEPLOYMENT_CONFIGURATION: Json = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "strategy": "ROLLING",
}
# A DAEMON service replaces its task on each instance in place: no room for a
# second task, and none of them needs to stay up meanwhile.
DAEMON_DEPLOYMENT_CONFIGURATION: Json = {
    **DEFAULT_DEPLOYMENT_CONFIGURATION,
    "maximumPercent": 100,
    "minimumHealthyPercent": 0,
}

CREATED_BY = "arn:aws:iam::{account}:root"


def find_cluster(world: World, region: str, reference: str | None) -> ClusterRecord:
    """The ACTIVE cluster a name or ARN refers to (``default`` when none is given)."""
    name = last_name(reference or "default")
    cluster = world.region(region).clusters.get(name)
    if cluster is None or not cluster.active:
        raise cluster_not_found()
    return cluster


def find_service(cluster: ClusterRecord, reference: str) -> ServiceRecord | None:
    return cluster.services.get(last_name(reference))


def active_service(cluster: ClusterRecord, reference: str) -> ServiceRecord:
    service = find_service(cluster, reference)
    if service is None:
        raise service_not_found()
    if service.status != "ACTIVE":
        raise EcsApiError("ServiceNotActiveException", "Service was not ACTIVE.")
    return service


def uses_fargate(settings: Json) -> bool:
    if settings.get("launchType") == "FARGATE":
        return True
    strategy = settings.get("capacityProviderStrategy") or []
    return any(item["capacityProvider"] in FARGATE_PROVIDERS for item in strategy)


def platform_family(task_definition: TaskDefinitionRecord) -> str:
    runtime = task_definition.body.get("runtimePlatform", {})
    family = runtime.get("operatingSystemFamily", "LINUX")
    return "Linux" if family == "LINUX" else str(family)


def check_supported(world: World, region: str, settings: Json) -> None:
    """Refuse deployment kinds the emulator does not model, and settings ECS refuses."""
    controller = settings.get("deploymentController", {}).get("type", "ECS")
    if controller == "EXTERNAL":
        # Task sets driven by the caller: the reconciler refuses such units, so
        # the emulator has no use for them.
        raise invalid_parameter(
            "The emulator does not model the EXTERNAL deployment controller; "
            "use deploymentController type ECS or CODE_DEPLOY."
        )
    if controller == "CODE_DEPLOY" and not settings.get("loadBalancers"):
        raise invalid_parameter(
            "A service with the CODE_DEPLOY deployment controller needs a load balancer: "
            "CodeDeploy shifts its traffic between two target groups."
        )
    try:
        check_traffic_settings(world, region, settings)
    except ValueError as e:
        raise invalid_parameter(str(e)) from e


def is_daemon(settings: Json) -> bool:
    return bool(settings.get("schedulingStrategy") == "DAEMON")


def check_daemon(settings: Json, *, count_given: bool) -> None:
    """The refusals ECS makes for a DAEMON service.

    ``settings`` are what the service would run with (for an update, the
    request merged over the service); ``count_given`` says whether the request
    carried a desiredCount, which a daemon's instance count owns.
    """
    if count_given:
        raise invalid_parameter(
            "The daemon scheduling strategy does not support a desired count for services. "
            "Remove the desired count value and try again"
        )
    if settings.get("placementStrategy"):
        raise invalid_parameter(
            "The daemon scheduling strategy does not support placement strategies. "
            "Remove the placement strategy and try again"
        )
    if settings.get("launchType") == "FARGATE":
        raise invalid_parameter(
            "DAEMON scheduling strategy is not supported with FARGATE launch type."
        )
    if settings.get("capacityProviderStrategy"):
        raise invalid_parameter(
            "Specifying a capacity provider strategy is not supported when you create a service "
            "using the DAEMON scheduling strategy."
        )
    controller = settings.get("deploymentController", {}).get("type", "ECS")
    if controller != "ECS":
        raise invalid_parameter(
            f"The {controller} deployment controller does not support the DAEMON scheduling "
            "strategy. Use the ECS deployment controller."
        )
    strategy = settings.get("deploymentConfiguration", {}).get("strategy", "ROLLING")
    if strategy in TRAFFIC_STRATEGIES:
        # AWS documents the traffic-shifting strategies for services behind a load
        # balancer or Service Connect, not for daemons: refused rather than
        # modelled on a guess.
        raise invalid_parameter(
            f"The emulator models DAEMON services with the ROLLING deployment strategy only, "
            f"not {strategy}."
        )


def uses_code_deploy(service: ServiceRecord) -> bool:
    return bool(service.body["deploymentController"]["type"] == "CODE_DEPLOY")


def check_placement(settings: Json, task_definition: TaskDefinitionRecord) -> None:
    """The refusals ECS makes about where and how the service's tasks run."""
    if settings.get("launchType") and settings.get("capacityProviderStrategy"):
        raise invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again."
        )
    for item in settings.get("capacityProviderStrategy") or []:
        if item["capacityProvider"] not in FARGATE_PROVIDERS:
            raise invalid_parameter(
                f"The specified capacity provider '{item['capacityProvider']}' was not found."
            )
    check_launchable(task_definition, uses_fargate(settings))
    awsvpc = task_definition.body.get("networkMode") == "awsvpc"
    if awsvpc and not settings.get("networkConfiguration"):
        raise invalid_parameter(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )
    if not awsvpc and settings.get("networkConfiguration"):
        raise invalid_parameter(
            "Network Configuration is not valid for the given networkMode of this task definition."
        )


def check_deployment_configuration(config: Json) -> None:
    maximum, minimum = config["maximumPercent"], config["minimumHealthyPercent"]
    if not 0 <= minimum <= 100:
        raise invalid_parameter("minimumHealthyPercent must be between 0 and 100.")
    if maximum < minimum:
        raise invalid_parameter("maximumPercent must not be less than minimumHealthyPercent.")


def merge_deployment_configuration(current: Json, given: Json) -> Json:
    merged = copy.deepcopy(current)
    merged.update(copy.deepcopy(given))
    return merged


def create_revision(
    world: World, region: str, service: ServiceRecord, task_definition: TaskDefinitionRecord
) -> ServiceRevisionRecord:
    """A service revision: what one deployment runs, kept for rollbacks and the API."""
    arn = world.scope(region).service_revision(
        service.cluster_name, service.name, world.new_revision_id()
    )
    body: Json = {
        "serviceRevisionArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": task_definition.arn,
        "containerImages": [
            {
                "containerName": container["name"],
                "image": container["image"],
                # A stable stand-in digest: the same image always has the same one.
                "imageDigest": "sha256:" + hashlib.sha256(container["image"].encode()).hexdigest(),
            }
            for container in task_definition.body["containerDefinitions"]
        ],
        "guardDutyEnabled": False,
        "createdAt": world.now(),
    }
    for key in (
        "launchType",
        "capacityProviderStrategy",
        "platformVersion",
        "platformFamily",
        "loadBalancers",
        "serviceRegistries",
        "networkConfiguration",
    ):
        if key in service.body:
            body[key] = copy.deepcopy(service.body[key])
    revision_members = shape_members("ServiceRevision")
    for key, value in service.rollout_fields.items():
        if key in revision_members:
            body[key] = copy.deepcopy(value)
    revision = ServiceRevisionRecord(arn, body)
    service.revisions[arn] = revision
    return revision


def fill_service_defaults(
    world: World, cluster: ClusterRecord, body: Json, task_definition: TaskDefinitionRecord
) -> None:
    """Fill the fields AWS fills when a service is created, around what was given."""
    if not body.get("launchType") and not body.get("capacityProviderStrategy"):
        default_strategy = cluster.body.get("defaultCapacityProviderStrategy") or []
        if default_strategy:
            body["capacityProviderStrategy"] = copy.deepcopy(default_strategy)
        else:
            body["launchType"] = "EC2"
    defaults = (
        DAEMON_DEPLOYMENT_CONFIGURATION if is_daemon(body) else DEFAULT_DEPLOYMENT_CONFIGURATION
    )
    body["deploymentConfiguration"] = merge_deployment_configuration(
        defaults, body.get("deploymentConfiguration", {})
    )
    body.setdefault("deploymentController", {"type": "ECS"})
    body.setdefault("propagateTags", "NONE")
    body.setdefault("enableECSManagedTags", False)
    body.setdefault("enableExecuteCommand", False)
    body.setdefault("schedulingStrategy", "REPLICA")
    for key in ("loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy"):
        body.setdefault(key, [])
    if body["loadBalancers"]:
        body.setdefault("healthCheckGracePeriodSeconds", 0)
    if uses_fargate(body):
        body.setdefault("platformVersion", "LATEST")
        body["platformFamily"] = platform_family(task_definition)
    if is_daemon(body):
        # The count follows the instances; the daemon deployment keeps it so.
        body["desiredCount"] = len(cluster.active_instances)
    body["createdBy"] = CREATED_BY.format(account=world.account_id)


def create_service(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    name = params["serviceName"]
    existing = cluster.services.get(name)
    if existing is not None and existing.status != "INACTIVE":
        raise invalid_parameter("Creation of service was not idempotent.")
    if is_daemon(params):
        # The cluster's default capacity provider strategy would apply, and is refused.
        settings = dict(params)
        if not params.get("launchType") and not params.get("capacityProviderStrategy"):
            settings["capacityProviderStrategy"] = cluster.body.get(
                "defaultCapacityProviderStrategy"
            )
        check_daemon(settings, count_given="desiredCount" in params)
    check_supported(world, region, params)
    if "taskDefinition" not in params:
        raise invalid_parameter("TaskDefinition must be specified.")
    if "desiredCount" not in params and not is_daemon(params):
        raise invalid_parameter("desiredCount is required when schedulingStrategy is REPLICA.")
    if params.get("desiredCount", 0) < 0:
        raise invalid_parameter("desiredCount can't be less than 0.")
    task_definition = resolve_task_definition(world.region(region), params["taskDefinition"])
    check_placement(params, task_definition)
    tags = params.get("tags", [])
    check_tags(tags)

    # Everything the caller sent is kept: Service fields on the service, the
    # rest (service connect, volumes...) on its deployments and revisions.
    service_members = shape_members("Service")
    body: Json = {}
    rollout_fields: Json = {}
    for key, value in params.items():
        if key in _REQUEST_ONLY:
            continue
        (body if key in service_members else rollout_fields)[key] = copy.deepcopy(value)
    scope = world.scope(region)
    arn = scope.service(cluster.name, name)
    body.update(serviceArn=arn, serviceName=name, clusterArn=cluster.arn)
    body["taskDefinition"] = task_definition.arn
    if "role" in params:
        role = params["role"]
        body["roleArn"] = (
            role if role.startswith("arn:") else f"arn:aws:iam::{world.account_id}:role/{role}"
        )
    fill_service_defaults(world, cluster, body, task_definition)
    check_deployment_configuration(body["deploymentConfiguration"])

    service = ServiceRecord(
        arn=arn,
        name=name,
        cluster_name=cluster.name,
        cluster_arn=cluster.arn,
        body=body,
        rollout_fields=rollout_fields,
        created_at=world.now(),
        tags=copy.deepcopy(tags),
    )
    cluster.services[name] = service
    if uses_code_deploy(service):
        # CodeDeploy services run task sets: the first one is PRIMARY at 100%.
        create_task_set(world, region, service, body, 100.0, primary=True)
    else:
        start_deployment(
            world, region, service, create_revision(world, region, service, task_definition)
        )
    return {"service": describe_service(service, include_tags=False)}


def update_service(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    service = active_service(cluster, params["service"])
    current = service.body

    # Work on a copy, so that a refused update leaves the service untouched.
    body = copy.deepcopy(current)
    rollout_fields = copy.deepcopy(service.rollout_fields)
    service_members = shape_members("Service")
    for key, value in params.items():
        if key in _REQUEST_ONLY or key == "deploymentConfiguration":
            continue
        (body if key in service_members else rollout_fields)[key] = copy.deepcopy(value)
    if "deploymentConfiguration" in params:
        body["deploymentConfiguration"] = merge_deployment_configuration(
            current["deploymentConfiguration"], params["deploymentConfiguration"]
        )
        check_deployment_configuration(body["deploymentConfiguration"])
    if params.get("capacityProviderStrategy"):
        body.pop("launchType", None)
    if params.get("desiredCount", 0) < 0:
        raise invalid_parameter("desiredCount can't be less than 0.")

    # Checked on the merged settings: a strategy set earlier still needs its balancer.
    if is_daemon(body):
        check_daemon(body, count_given="desiredCount" in params)
    check_supported(world, region, body)
    task_definition = resolve_task_definition(world.region(region), body["taskDefinition"])
    body["taskDefinition"] = task_definition.arn
    check_placement(body, task_definition)
    if uses_fargate(body):
        body.setdefault("platformVersion", "LATEST")
        body["platformFamily"] = platform_family(task_definition)
    if body["loadBalancers"]:
        body.setdefault("healthCheckGracePeriodSeconds", 0)

    redeploy = bool(params.get("forceNewDeployment")) or any(
        {**current, **service.rollout_fields}.get(key) != {**body, **rollout_fields}.get(key)
        for key in _DEPLOYMENT_SETTINGS
    )
    if redeploy and uses_code_deploy(service):
        raise invalid_parameter(
            "Unable to update the task definition, network, load balancers or platform of a "
            "service with the CODE_DEPLOY deployment controller. Use AWS CodeDeploy to "
            "trigger a new deployment."
        )
    service.body = body
    service.rollout_fields = rollout_fields
    if redeploy:
        revision = create_revision(world, region, service, task_definition)
        start_deployment(world, region, service, revision)
    elif "desiredCount" in params:
        # Scaling alone changes the PRIMARY deployment's count, not the deployment.
        service.steady = False
        world.mark_busy(region, service)
    return {"service": describe_service(service, include_tags=False)}


def delete_service(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    service = find_service(cluster, params["service"])
    if service is None or service.status == "INACTIVE":
        raise service_not_found()
    if service.status == "ACTIVE":
        # A daemon's count is its instances': it is deleted without scaling in first.
        scaled = service.desired_count > 0 and not is_daemon(service.body)
        if scaled and not params.get("force"):
            raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
        service.status = "DRAINING"
        service.body["desiredCount"] = 0
        service.steady = False
        world.mark_busy(region, service)
    return {"service": describe_service(service, include_tags=False)}


def drain_deleted_service(world: World, service: ServiceRecord) -> None:
    """A DRAINING service stops every task, then becomes INACTIVE."""
    live = [task for task in service.tasks.values() if task.live]
    for task in live:
        request_stop(world, task, "Service deleted.", "ServiceSchedulerInitiated")
    if live:
        ids = " ".join(f"(task {task.task_id})" for task in live)
        world.add_event(service, f"has stopped {len(live)} running tasks: {ids}.")
    if all(task.stopped for task in service.tasks.values()):
        service.status = "INACTIVE"
        for deployment in service.deployments:
            deployment.body["desiredCount"] = 0
        service.steady = True


def describe_service(service: ServiceRecord, include_tags: bool) -> Json:
    described = copy.deepcopy(service.body)
    described["status"] = service.status
    described["createdAt"] = service.created_at
    described["deployments"] = [describe_deployment(service, d) for d in service.deployments]
    described["runningCount"] = sum(1 for task in service.tasks.values() if task.running)
    described["pendingCount"] = sum(1 for task in service.tasks.values() if task.starting)
    described["events"] = copy.deepcopy(service.events)
    if uses_code_deploy(service):
        described["taskSets"] = [describe_task_set(service, t) for t in service.task_sets]
    if service.service_deployments:
        described["currentServiceDeployment"] = service.service_deployments[-1].arn
    described["currentServiceRevisions"] = [
        revision_counts(service, arn)
        for arn in dict.fromkeys(d.revision.arn for d in service.deployments)
    ]
    if include_tags:
        described["tags"] = copy.deepcopy(service.tags)
    return described


def describe_services(world: World, region: str, params: Json) -> Json:
    references = params["services"]
    if len(references) > DESCRIBE_SERVICES_LIMIT:
        raise invalid_parameter(
            f"services can have at most {DESCRIBE_SERVICES_LIMIT} items; "
            f"{len(references)} were given."
        )
    cluster = find_cluster(world, region, params.get("cluster"))
    include_tags = "TAGS" in params.get("include", [])
    described, failures = [], []
    for reference in references:
        service = find_service(cluster, reference)
        if service is None:
            arn = (
                reference
                if reference.startswith("arn:")
                else world.scope(region).service(cluster.name, reference)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(describe_service(service, include_tags))
    return {"services": described, "failures": failures}


def list_services(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    arns = [
        service.arn
        for service in cluster.services.values()
        if service.status != "INACTIVE"
        and matches(service.body, "launchType", params.get("launchType"))
        and matches(service.body, "schedulingStrategy", params.get("schedulingStrategy"))
    ]
    page, token = paginate(arns, params, default_size=10)
    return with_token({"serviceArns": page}, token)


def matches(body: Json, key: str, wanted: Any) -> bool:
    return wanted is None or body.get(key) == wanted


def list_service_deployments(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    service = find_service(cluster, params["service"])
    if service is None:
        raise service_not_found()
    statuses = params.get("status")
    created = params.get("createdAt", {})
    found = [
        tracked
        for tracked in reversed(service.service_deployments)
        if (statuses is None or tracked.status in statuses)
        and created.get("after", float("-inf")) <= tracked.body["createdAt"]
        and tracked.body["createdAt"] <= created.get("before", float("inf"))
    ]
    page, token = paginate(found, params, default_size=20)
    response = {"serviceDeployments": [brief_service_deployment(t) for t in page]}
    return with_token(response, token)
