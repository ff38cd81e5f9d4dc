"""CodeDeploy as the emulator serves it: requests in, JSON-able responses out.

Only the ECS compute platform deploys. A deployment group names its ECS service
by cluster and name; the service is looked up when a deployment starts, not when
the group is created, so a seed file can create groups before the services a
repository will create (a deployment to a missing service fails with
INVALID_ECS_SERVICE).
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator

from reconciler.emulator.codedeploy.appspec import parse_appspec
from reconciler.emulator.codedeploy.deployments import (
    DEFAULT_CONFIG,
    DEPLOYMENT_CONFIGS,
    FINISHED,
    EcsDeployment,
)
from reconciler.emulator.codedeploy.errors import CodeDeployApiError
from reconciler.emulator.codedeploy.records import (
    ApplicationRecord,
    CodeDeployWorld,
    GroupRecord,
    Json,
    TaskSets,
)
from reconciler.emulator.ecs.pagination import decode_token, encode_token
from reconciler.emulator.hooks import HookAnswers
from reconciler.emulator.traffic import Traffic

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
COMPUTE_PLATFORMS = ("Server", "Lambda", "ECS")

Operation = Callable[[CodeDeployWorld, str, Json], Json]


@functools.cache
def load_codedeploy_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("codedeploy")


def operation_model(operation: str) -> OperationModel:
    model = load_codedeploy_model()
    if operation not in model.operation_names:
        raise CodeDeployApiError(
            "UnknownOperationException", f"Operation {operation} is not a CodeDeploy operation."
        )
    return model.operation_model(operation)


def validate_request(operation: str, params: Json) -> None:
    shape = operation_model(operation).input_shape
    if shape is None:
        return
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise CodeDeployApiError("InvalidInputException", report.generate_report())


def page(items: list[Any], params: Json) -> tuple[list[Any], str | None]:
    try:
        start = decode_token(params["nextToken"]) if params.get("nextToken") else 0
    except Exception as e:  # the ECS pager's error, in CodeDeploy's words
        raise CodeDeployApiError("InvalidNextTokenException", "The next token is invalid.") from e
    end = start + PAGE_SIZE
    return items[start:end], encode_token(end) if end < len(items) else None


def with_token(response: Json, token: str | None) -> Json:
    if token is not None:
        response["nextToken"] = token
    return response


# Applications.


def find_application(world: CodeDeployWorld, region: str, name: str) -> ApplicationRecord:
    found = world.region(region).applications.get(name)
    if found is None:
        raise CodeDeployApiError(
            "ApplicationDoesNotExistException", f"No application found for name: {name}"
        )
    return found


def create_application(world: CodeDeployWorld, region: str, params: Json) -> Json:
    name = params["applicationName"]
    applications = world.region(region).applications
    if name in applications:
        raise CodeDeployApiError("ApplicationAlreadyExistsException", f"{name} already exists.")
    application_id = world.new_uuid()
    body: Json = {
        "applicationId": application_id,
        "applicationName": name,
        "createTime": world.now(),
        "linkedToGitHub": False,
        "computePlatform": params.get("computePlatform", "Server"),
    }
    applications[name] = ApplicationRecord(name, body, copy.deepcopy(params.get("tags", [])))
    return {"applicationId": application_id}


def get_application(world: CodeDeployWorld, region: str, params: Json) -> Json:
    application = find_application(world, region, params["applicationName"])
    return {"application": copy.deepcopy(application.body)}


def list_applications(world: CodeDeployWorld, region: str, params: Json) -> Json:
    names, token = page(sorted(world.region(region).applications), params)
    return with_token({"applications": names}, token)


# Deployment groups.


def find_group(world: CodeDeployWorld, region: str, application: str, name: str) -> GroupRecord:
    found = find_application(world, region, application).groups.get(name)
    if found is None:
        raise CodeDeployApiError(
            "DeploymentGroupDoesNotExistException",
            f"No Deployment Group found for name: {name}",
        )
    return found


def check_config_name(name: str) -> None:
    if name not in DEPLOYMENT_CONFIGS:
        known = ", ".join(DEPLOYMENT_CONFIGS)
        raise CodeDeployApiError(
            "DeploymentConfigDoesNotExistException",
            f"No deployment configuration found for name: {name}. The emulator knows {known}.",
        )


def check_ecs_group(params: Json) -> None:
    """What CodeDeploy requires of a deployment group for the ECS compute platform."""
    services = params.get("ecsServices") or []
    if len(services) != 1:
        raise CodeDeployApiError(
            "InvalidECSServiceException", "An ECS deployment group names exactly one ECS service."
        )
    pairs = (params.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    if len(pairs) != 1 or len(pairs[0].get("targetGroups") or []) != 2:
        raise CodeDeployApiError(
            "InvalidTargetGroupPairException",
            "An ECS deployment group needs one targetGroupPairInfoList entry with two "
            "target groups.",
        )
    listeners = (pairs[0].get("prodTrafficRoute") or {}).get("listenerArns") or []
    if len(listeners) != 1:
        raise CodeDeployApiError(
            "InvalidTrafficRoutingConfigurationException",
            "prodTrafficRoute needs exactly one listener ARN.",
        )
    style = params.get("deploymentStyle") or {}
    if style and (
        style.get("deploymentType") != "BLUE_GREEN"
        or style.get("deploymentOption") != "WITH_TRAFFIC_CONTROL"
    ):
        raise CodeDeployApiError(
            "InvalidDeploymentStyleException",
            "ECS deployment groups deploy BLUE_GREEN WITH_TRAFFIC_CONTROL.",
        )


def create_deployment_group(world: CodeDeployWorld, region: str, params: Json) -> Json:
    application = find_application(world, region, params["applicationName"])
    name = params["deploymentGroupName"]
    if name in application.groups:
        raise CodeDeployApiError(
            "DeploymentGroupAlreadyExistsException", f"Deployment group {name} already exists."
        )
    if application.body["computePlatform"] != "ECS":
        raise CodeDeployApiError(
            "InvalidComputePlatformException",
            "The emulator deploys only applications of the ECS compute platform.",
        )
    check_ecs_group(params)
    config_name = params.get("deploymentConfigName", DEFAULT_CONFIG)
    check_config_name(config_name)

    body = {key: copy.deepcopy(value) for key, value in params.items() if key != "tags"}
    body.update(
        deploymentGroupId=world.new_uuid(),
        deploymentConfigName=config_name,
        computePlatform="ECS",
    )
    body.setdefault(
        "deploymentStyle",
        {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    blue_green = body.setdefault("blueGreenDeploymentConfiguration", {})
    blue_green.setdefault(
        "terminateBlueInstancesOnDeploymentSuccess",
        {"action": "TERMINATE", "terminationWaitTimeInMinutes": 0},
    )
    blue_green.setdefault(
        "deploymentReadyOption", {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0}
    )
    body.setdefault("autoRollbackConfiguration", {"enabled": False, "events": []})
    application.groups[name] = GroupRecord(name, body)
    return {"deploymentGroupId": body["deploymentGroupId"]}


def get_deployment_group(world: CodeDeployWorld, region: str, params: Json) -> Json:
    group = find_group(world, region, params["applicationName"], params["deploymentGroupName"])
    return {"deploymentGroupInfo": copy.deepcopy(group.body)}


def list_deployment_groups(world: CodeDeployWorld, region: str, params: Json) -> Json:
    application = find_application(world, region, params["applicationName"])
    names, token = page(sorted(application.groups), params)
    return with_token({"applicationName": application.name, "deploymentGroups": names}, token)


# Deployments.


def find_deployment(world: CodeDeployWorld, region: str, deployment_id: str) -> EcsDeployment:
    found = world.region(region).deployments.get(deployment_id)
    if found is None:
        raise CodeDeployApiError(
            "DeploymentDoesNotExistException",
            f"The deployment {deployment_id} could not be found.",
        )
    return found


def create_deployment(world: CodeDeployWorld, region: str, params: Json) -> Json:
    group = find_group(world, region, params["applicationName"], params["deploymentGroupName"])
    revision = params.get("revision")
    if not revision or revision.get("revisionType") != "AppSpecContent":
        raise CodeDeployApiError(
            "InvalidRevisionException",
            "An ECS deployment takes a revision of revisionType AppSpecContent.",
        )
    appspec = parse_appspec(revision.get("appSpecContent", {}).get("content", ""))
    config_name = str(params.get("deploymentConfigName", group.body["deploymentConfigName"]))
    check_config_name(config_name)
    for running in world.region(region).deployments.values():
        if running.group is group and running.status not in FINISHED:
            raise CodeDeployApiError(
                "DeploymentLimitExceededException",
                f"The Deployment Group '{group.name}' already has an active Deployment "
                f"'{running.deployment_id}'",
            )

    deployment_id = world.new_deployment_id()
    now = world.now()
    body: Json = {
        "applicationName": params["applicationName"],
        "deploymentGroupName": group.name,
        "deploymentConfigName": config_name,
        "deploymentId": deployment_id,
        "revision": copy.deepcopy(revision),
        "status": "Created",
        "createTime": now,
        "creator": "user",
        "ignoreApplicationStopFailures": bool(params.get("ignoreApplicationStopFailures")),
        "autoRollbackConfiguration": copy.deepcopy(
            params.get("autoRollbackConfiguration", group.body["autoRollbackConfiguration"])
        ),
        "updateOutdatedInstancesOnly": False,
        "deploymentStyle": copy.deepcopy(group.body["deploymentStyle"]),
        "instanceTerminationWaitTimeStarted": False,
        "blueGreenDeploymentConfiguration": copy.deepcopy(
            group.body["blueGreenDeploymentConfiguration"]
        ),
        "loadBalancerInfo": copy.deepcopy(group.body["loadBalancerInfo"]),
        "fileExistsBehavior": params.get("fileExistsBehavior", "DISALLOW"),
        "deploymentStatusMessages": [],
        "computePlatform": "ECS",
        "deploymentOverview": {
            key: 0 for key in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")
        },
    }
    if params.get("description"):
        body["description"] = params["description"]
    if group.last_revision is not None:
        body["previousRevision"] = copy.deepcopy(group.last_revision)
    deployment = EcsDeployment(world, region, body, group, appspec)
    world.region(region).deployments[deployment_id] = deployment
    world.active[deployment_id] = (region, deployment)
    group.body["lastAttemptedDeployment"] = {
        "deploymentId": deployment_id,
        "status": "Created",
        "createTime": now,
    }
    logger.debug("codedeploy %s created for %s", deployment_id, group.name)
    return {"deploymentId": deployment_id}


def get_deployment(world: CodeDeployWorld, region: str, params: Json) -> Json:
    return {
        "deploymentInfo": copy.deepcopy(find_deployment(world, region, params["deploymentId"]).body)
    }


def batch_get_deployments(world: CodeDeployWorld, region: str, params: Json) -> Json:
    deployments = world.region(region).deployments
    return {
        "deploymentsInfo": [
            copy.deepcopy(deployments[d].body) for d in params["deploymentIds"] if d in deployments
        ]
    }


def list_deployments(world: CodeDeployWorld, region: str, params: Json) -> Json:
    application, group = params.get("applicationName"), params.get("deploymentGroupName")
    if group is not None and application is None:
        raise CodeDeployApiError(
            "ApplicationNameRequiredException", "The application name must be specified."
        )
    if application is not None:
        find_application(world, region, application)
    statuses = params.get("includeOnlyStatuses")
    window = params.get("createTimeRange", {})
    ids = [
        deployment.deployment_id
        for deployment in world.region(region).deployments.values()
        if (application is None or deployment.body["applicationName"] == application)
        and (group is None or deployment.group.name == group)
        and (not statuses or deployment.status in statuses)
        and window.get("start", float("-inf")) <= deployment.body["createTime"]
        and deployment.body["createTime"] <= window.get("end", float("inf"))
    ]
    found, token = page(ids, params)
    return with_token({"deployments": found}, token)


def stop_deployment(world: CodeDeployWorld, region: str, params: Json) -> Json:
    deployment = find_deployment(world, region, params["deploymentId"])
    if deployment.status in FINISHED:
        raise CodeDeployApiError(
            "DeploymentAlreadyCompletedException",
            f"The deployment {deployment.deployment_id} has already completed.",
        )
    if "autoRollbackEnabled" in params:
        rollback = bool(params["autoRollbackEnabled"])
    else:
        config = deployment.body["autoRollbackConfiguration"]
        rollback = bool(config.get("enabled")) and "DEPLOYMENT_STOP_ON_REQUEST" in (
            config.get("events") or []
        )
    deployment.stop(rollback)
    message = "Stopped; traffic rolled back." if rollback else "Stopped."
    return {"status": "Succeeded", "statusMessage": message}


def continue_deployment(world: CodeDeployWorld, region: str, params: Json) -> Json:
    deployment = find_deployment(world, region, params["deploymentId"])
    wait_type = params.get("deploymentWaitType", "READY_WAIT")
    if wait_type == "READY_WAIT" and deployment.status != "Ready":
        raise CodeDeployApiError(
            "DeploymentIsNotInReadyStateException",
            f"The deployment {deployment.deployment_id} is {deployment.status}, not Ready.",
        )
    if wait_type == "TERMINATION_WAIT" and deployment.status in FINISHED:
        raise CodeDeployApiError(
            "DeploymentAlreadyCompletedException",
            f"The deployment {deployment.deployment_id} has already completed.",
        )
    deployment.continue_wait(wait_type)
    return {}


def get_deployment_target(world: CodeDeployWorld, region: str, params: Json) -> Json:
    deployment = find_deployment(world, region, params["deploymentId"])
    if params["targetId"] != deployment.target_id:
        raise CodeDeployApiError(
            "DeploymentTargetDoesNotExistException",
            f"The target {params['targetId']} is not part of deployment "
            f"{deployment.deployment_id}; its target is {deployment.target_id}.",
        )
    return {
        "deploymentTarget": {
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": deployment.describe_target(),
        }
    }


def list_deployment_targets(world: CodeDeployWorld, region: str, params: Json) -> Json:
    deployment = find_deployment(world, region, params["deploymentId"])
    return {"targetIds": [deployment.target_id]}


OPERATIONS: dict[str, Operation] = {
    "CreateApplication": create_application,
    "GetApplication": get_application,
    "ListApplications": list_applications,
    "CreateDeploymentGroup": create_deployment_group,
    "GetDeploymentGroup": get_deployment_group,
    "ListDeploymentGroups": list_deployment_groups,
    "CreateDeployment": create_deployment,
    "GetDeployment": get_deployment,
    "BatchGetDeployments": batch_get_deployments,
    "ListDeployments": list_deployments,
    "StopDeployment": stop_deployment,
    "ContinueDeployment": continue_deployment,
    "GetDeploymentTarget": get_deployment_target,
    "ListDeploymentTargets": list_deployment_targets,
}


class CodeDeployBackend:
    """CodeDeploy for ECS services, driving task sets through ``ecs`` on the clock."""

    def __init__(
        self,
        now: Callable[[], float],
        ecs: TaskSets,
        traffic: Traffic,
        hooks: HookAnswers,
        *,
        account_id: str = "123456789012",
    ) -> None:
        self._lock = threading.RLock()
        self._world = CodeDeployWorld(now, account_id, ecs, traffic, hooks)

    def handle(self, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one CodeDeploy request, or raise :class:`CodeDeployApiError`."""
        run = OPERATIONS.get(operation)
        if run is None:
            operation_model(operation)
            raise CodeDeployApiError(
                "UnknownOperationException",
                f"The emulator does not implement the CodeDeploy operation {operation}.",
            )
        validate_request(operation, params)
        with self._lock:
            return run(self._world, region, params)

    def advance(self) -> None:
        """Move every unfinished deployment one clock step along."""
        with self._lock:
            for deployment_id, (_, deployment) in list(self._world.active.items()):
                deployment.step()
                if deployment.status in FINISHED:
                    del self._world.active[deployment_id]

    def reset(self) -> None:
        with self._lock:
            self._world.reset()
