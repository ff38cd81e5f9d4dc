"""A CodeDeploy deployment to an ECS service, moving on the simulated clock.

Status: Created, then InProgress through the lifecycle events (BeforeInstall,
Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic,
BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic); Ready between the test
and the production traffic when the deployment group's deploymentReadyOption
says STOP_DEPLOYMENT (ContinueDeployment goes on; the wait running out stops
the deployment); then the original task set is terminated after
terminationWaitTimeInMinutes and the deployment is Succeeded.

Install creates the green task set from the AppSpec on the green target group
(of the group's pair, the one production does not forward to) and waits until
it runs. AllowTraffic moves the production listeners' weights to it, all at once
or in the steps of a linear or canary deployment configuration, then makes it
the PRIMARY task set. A hook answering FAILED, green tasks failing to start, or
StopDeployment end it Failed or Stopped; with rollback, traffic returns to the
blue target group, blue is PRIMARY again, the green task set is deleted, and a
rollback deployment (creator ``codeDeployRollback``) records it.
"""

from __future__ import annotations

import copy
import logging
import math

from reconciler.emulator.codedeploy.appspec import HOOK_EVENTS, LIFECYCLE_EVENTS, AppSpec
from reconciler.emulator.codedeploy.records import CodeDeployWorld, GroupRecord, Json
from reconciler.emulator.ecs.errors import EcsApiError
from reconciler.emulator.ecs.tasksets import TaskSetState
from reconciler.emulator.hooks import FAILED, SUCCEEDED
from reconciler.emulator.traffic import TrafficError, split_weights

logger = logging.getLogger(__name__)

# Production traffic steps (percent to green, wait after it in seconds) of the
# deployment configurations CodeDeploy predefines for ECS.
TrafficSteps = list[tuple[float, float]]


def linear_steps(percent: float, minutes: float) -> TrafficSteps:
    count = math.ceil(100.0 / percent)
    return [(min(100.0, percent * (i + 1)), minutes * 60) for i in range(count)]


DEPLOYMENT_CONFIGS: dict[str, TrafficSteps] = {
    "CodeDeployDefault.ECSAllAtOnce": [(100.0, 0.0)],
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": linear_steps(10, 1),
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": linear_steps(10, 3),
    "CodeDeployDefault.ECSCanary10Percent5Minutes": [(10.0, 300.0), (100.0, 0.0)],
    "CodeDeployDefault.ECSCanary10Percent15Minutes": [(10.0, 900.0), (100.0, 0.0)],
}
DEFAULT_CONFIG = "CodeDeployDefault.ECSAllAtOnce"

# The deployment's own phases: the lifecycle events plus the two waits.
READY_WAIT = "ReadyWait"
TERMINATION_WAIT = "TerminationWait"
PHASES = (
    *LIFECYCLE_EVENTS[:5],
    READY_WAIT,
    *LIFECYCLE_EVENTS[5:],
    TERMINATION_WAIT,
)
FINISHED = frozenset({"Succeeded", "Failed", "Stopped"})


class DeploymentFailure(Exception):
    """Ends a deployment: its error code, message and final status."""

    def __init__(self, code: str, message: str, status: str = "Failed") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class EcsDeployment:
    """One deployment of an AppSpec onto the ECS service of a deployment group."""

    def __init__(
        self,
        world: CodeDeployWorld,
        region: str,
        body: Json,
        group: GroupRecord,
        appspec: AppSpec,
    ) -> None:
        self.world = world
        self.region = region
        self.body = body
        self.group = group
        self.appspec = appspec
        service = group.body["ecsServices"][0]
        self.cluster, self.service = service["clusterName"], service["serviceName"]
        pair = group.body["loadBalancerInfo"]["targetGroupPairInfoList"][0]
        self.target_group_names = [item["name"] for item in pair["targetGroups"]]
        self.production = list(pair.get("prodTrafficRoute", {}).get("listenerArns", []))
        self.test = list(pair.get("testTrafficRoute", {}).get("listenerArns", []))
        self.steps = DEPLOYMENT_CONFIGS[body["deploymentConfigName"]]
        self.blue_group = self.green_group = ""
        self.service_arn = ""
        self.blue_task_set: str | None = None
        self.green_task_set: str | None = None
        self.phase_index = 0
        self.phase_started_at = 0.0
        self.shifts_done = 0
        self.last_shift_at = 0.0
        self.green_weight = 0.0
        self.continued: set[str] = set()
        self.events: list[Json] = [
            {"lifecycleEventName": name, "status": "Pending"} for name in LIFECYCLE_EVENTS
        ]

    @property
    def deployment_id(self) -> str:
        return str(self.body["deploymentId"])

    @property
    def status(self) -> str:
        return str(self.body["status"])

    @property
    def phase(self) -> str:
        return PHASES[self.phase_index]

    @property
    def target_id(self) -> str:
        return f"{self.cluster}:{self.service}"

    # The clock.

    def step(self) -> None:
        """One clock step; the deployment ends by itself when it is done."""
        if self.status in FINISHED:
            return
        try:
            if self.status == "Created":
                self.start()
                return
            self.check_green()
            if not self.run_phase(self.phase):
                return
            self.end_event(self.phase, "Succeeded")
            if self.phase_index + 1 == len(PHASES):
                self.succeed()
                return
            self.phase_index += 1
            self.phase_started_at = self.world.now()
            self.begin_event(self.phase)
        except DeploymentFailure as failure:
            self.end(failure, rollback=self.rolls_back_on_failure())
        except EcsApiError as e:
            # The service went away under the deployment: nothing to roll back onto.
            self.end(DeploymentFailure("INVALID_ECS_SERVICE", e.message), rollback=False)

    def start(self) -> None:
        now = self.world.now()
        self.body.update(
            status="InProgress", startTime=now, deploymentOverview=overview("InProgress")
        )
        ecs = self.world.ecs
        try:
            described = ecs.describe_code_deploy_service(self.region, self.cluster, self.service)
        except EcsApiError as e:
            raise DeploymentFailure("INVALID_ECS_SERVICE", e.message) from e
        self.service_arn = str(described["serviceArn"])
        states = ecs.task_set_states(self.region, self.cluster, self.service)
        primary = next((state for state in states if state.status == "PRIMARY"), None)
        self.blue_task_set = primary.task_set_id if primary is not None else None
        arns = [self.target_group_arn(name) for name in self.target_group_names]
        weights = self.current_weights()
        blue = max(arns, key=lambda arn: weights.get(arn, 0))
        self.blue_group = blue
        self.green_group = next((arn for arn in arns if arn != blue), blue)
        self.phase_started_at = now
        self.begin_event(self.phase)

    def run_phase(self, phase: str) -> bool:
        """Do the phase's work; True once it is done."""
        if phase in HOOK_EVENTS:
            return self.hook_passed(phase)
        if phase == "Install":
            return self.install()
        if phase == "AllowTestTraffic":
            for listener in self.test:
                self.set_listener_weights(listener, 100.0)
            return True
        if phase == READY_WAIT:
            return self.ready()
        if phase == "AllowTraffic":
            return self.allow_traffic()
        return self.terminate_blue()

    def hook_passed(self, event: str) -> bool:
        function = self.appspec.hooks.get(event)
        if function is None:
            return True
        answer = self.world.hooks.answer_for(function)
        if answer == FAILED:
            raise DeploymentFailure(
                "HOOK_EXECUTION_FAILURE",
                f"The {event} lifecycle hook {function} answered Failed.",
            )
        return answer == SUCCEEDED

    def install(self) -> bool:
        ecs = self.world.ecs
        if self.green_task_set is None:
            settings = self.green_settings()
            try:
                self.green_task_set = ecs.create_task_set(
                    self.region, self.cluster, self.service, settings, self.deployment_id
                )
            except EcsApiError as e:
                raise DeploymentFailure(
                    "ECS_UPDATE_ERROR", f"ECS refused the task set: {e.message}"
                ) from e
            ecs.scale_task_set(self.region, self.cluster, self.service, self.green_task_set, 100.0)
            return False
        green = self.green_state()
        return green is not None and green.steady and green.running == green.desired

    def ready(self) -> bool:
        option = self.group.body.get("blueGreenDeploymentConfiguration", {}).get(
            "deploymentReadyOption", {}
        )
        if option.get("actionOnTimeout") != "STOP_DEPLOYMENT":
            return True
        if READY_WAIT in self.continued:
            self.body.update(status="InProgress", deploymentOverview=overview("InProgress"))
            return True
        self.body.update(status="Ready", deploymentOverview=overview("Ready"))
        wait = float(option.get("waitTimeInMinutes", 0)) * 60
        if self.world.now() >= self.phase_started_at + wait:
            raise DeploymentFailure(
                "TIMEOUT",
                "The deployment was not continued within the deployment group's "
                "waitTimeInMinutes, so it stopped.",
                status="Stopped",
            )
        return False

    def allow_traffic(self) -> bool:
        now = self.world.now()
        if self.shifts_done < len(self.steps):
            if (
                self.shifts_done > 0
                and now < self.last_shift_at + self.steps[self.shifts_done - 1][1]
            ):
                return False
            percent = self.steps[self.shifts_done][0]
            for listener in self.production:
                self.set_listener_weights(listener, percent)
            self.green_weight = percent
            self.shifts_done += 1
            self.last_shift_at = now
            if self.shifts_done < len(self.steps):
                return False
        assert self.green_task_set is not None
        self.world.ecs.make_primary_task_set(
            self.region, self.cluster, self.service, self.green_task_set
        )
        return True

    def terminate_blue(self) -> bool:
        option = self.group.body.get("blueGreenDeploymentConfiguration", {}).get(
            "terminateBlueInstancesOnDeploymentSuccess", {}
        )
        self.body["instanceTerminationWaitTimeStarted"] = True
        wait = float(option.get("terminationWaitTimeInMinutes", 0)) * 60
        waited = self.world.now() >= self.phase_started_at + wait
        if not waited and TERMINATION_WAIT not in self.continued:
            return False
        if option.get("action", "TERMINATE") == "TERMINATE" and self.blue_task_set is not None:
            self.world.ecs.delete_task_set(
                self.region, self.cluster, self.service, self.blue_task_set
            )
        return True

    def check_green(self) -> None:
        green = self.green_state()
        if green is not None and green.failed > 0:
            raise DeploymentFailure(
                "ECS_UPDATE_ERROR",
                f"The ECS service cannot reach a steady state: {green.failed} tasks of the "
                f"replacement task set {green.task_set_id} failed to start.",
            )

    # Lifecycle events, as GetDeploymentTarget reports them.

    def event(self, name: str) -> Json | None:
        return next((e for e in self.events if e["lifecycleEventName"] == name), None)

    def begin_event(self, name: str) -> None:
        event = self.event(name)
        if event is not None:
            event.update(status="InProgress", startTime=self.world.now())

    def end_event(self, name: str, status: str) -> None:
        event = self.event(name)
        if event is not None:
            event.update(status=status, endTime=self.world.now())

    # Endings.

    def succeed(self) -> None:
        now = self.world.now()
        self.body.update(status="Succeeded", completeTime=now)
        self.body["deploymentOverview"] = overview("Succeeded")
        self.group.body["lastSuccessfulDeployment"] = deployment_summary(self.body)
        self.group.body["lastAttemptedDeployment"] = deployment_summary(self.body)
        self.group.last_revision = copy.deepcopy(self.body["revision"])

    def rolls_back_on_failure(self) -> bool:
        config = self.body.get("autoRollbackConfiguration", {})
        events = config.get("events") or ["DEPLOYMENT_FAILURE"]
        return bool(config.get("enabled")) and "DEPLOYMENT_FAILURE" in events

    def end(self, failure: DeploymentFailure, rollback: bool) -> None:
        """Fail or stop the deployment, rolling back when asked to."""
        now = self.world.now()
        current = self.event(self.phase)
        if current is not None and current["status"] == "InProgress":
            self.end_event(self.phase, "Failed")
        for event in self.events:
            if event["status"] == "Pending":
                event["status"] = "Skipped"
        self.body.update(
            status=failure.status,
            completeTime=now,
            errorInformation={"code": failure.code, "message": failure.message},
        )
        self.body["deploymentOverview"] = overview("Failed")
        self.group.body["lastAttemptedDeployment"] = deployment_summary(self.body)
        logger.debug("codedeploy %s ended %s: %s", self.deployment_id, failure.status, failure)
        if not rollback:
            return
        try:
            self.roll_back(failure.message)
        except (DeploymentFailure, EcsApiError) as e:
            # The listener or the service went away: say so rather than stop the clock.
            self.body["rollbackInfo"] = {"rollbackMessage": f"The rollback failed: {e}"}

    def roll_back(self, reason: str) -> None:
        ecs = self.world.ecs
        for listener in [*self.production, *self.test]:
            self.set_listener_weights(listener, 0.0)
        self.green_weight = 0.0
        if self.blue_task_set is not None:
            ecs.make_primary_task_set(self.region, self.cluster, self.service, self.blue_task_set)
        if self.green_task_set is not None:
            ecs.delete_task_set(self.region, self.cluster, self.service, self.green_task_set)
            self.green_task_set = None
        now = self.world.now()
        rollback_id = self.world.new_deployment_id()
        rollback_body = copy.deepcopy(self.body)
        rollback_body.update(
            deploymentId=rollback_id,
            status="Succeeded",
            creator="codeDeployRollback",
            createTime=now,
            startTime=now,
            completeTime=now,
            deploymentOverview=overview("Succeeded"),
            rollbackInfo={"rollbackTriggeringDeploymentId": self.deployment_id},
        )
        rollback_body.pop("errorInformation", None)
        if "previousRevision" in self.body:
            rollback_body["revision"] = copy.deepcopy(self.body["previousRevision"])
        done = EcsDeployment(self.world, self.region, rollback_body, self.group, self.appspec)
        self.world.region(self.region).deployments[rollback_id] = done
        self.body["rollbackInfo"] = {
            "rollbackDeploymentId": rollback_id,
            "rollbackMessage": f"Rolled back: {reason} Traffic is back on the original task set.",
        }

    def stop(self, rollback: bool) -> None:
        self.end(
            DeploymentFailure("MANUAL_STOP", "The deployment was stopped by a user.", "Stopped"),
            rollback,
        )

    def continue_wait(self, wait_type: str) -> None:
        self.continued.add(READY_WAIT if wait_type == "READY_WAIT" else TERMINATION_WAIT)
        if wait_type == "READY_WAIT":
            self.body.update(status="InProgress", deploymentOverview=overview("InProgress"))

    # Traffic and task sets.

    def target_group_arn(self, name: str) -> str:
        try:
            return self.world.traffic.target_group_arn(self.region, name)
        except TrafficError as e:
            raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", str(e)) from e

    def current_weights(self) -> dict[str, int]:
        if not self.production:
            return {}
        try:
            return self.world.traffic.listener_weights(self.region, self.production[0])
        except TrafficError as e:
            raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", str(e)) from e

    def set_listener_weights(self, listener: str, green_percent: float) -> None:
        weights = split_weights(self.blue_group, self.green_group, green_percent)
        try:
            self.world.traffic.set_listener_weights(self.region, listener, weights)
        except TrafficError as e:
            raise DeploymentFailure("ELASTIC_LOAD_BALANCING_INVALID", str(e)) from e

    def green_settings(self) -> Json:
        spec = self.appspec
        settings: Json = {
            "taskDefinition": spec.task_definition,
            "loadBalancers": [
                {
                    "targetGroupArn": self.green_group,
                    "containerName": spec.container_name,
                    "containerPort": spec.container_port,
                }
            ],
        }
        if spec.platform_version:
            settings["platformVersion"] = spec.platform_version
        if spec.network_configuration:
            settings["networkConfiguration"] = spec.network_configuration
        if spec.capacity_provider_strategy:
            settings["capacityProviderStrategy"] = spec.capacity_provider_strategy
            settings["launchType"] = None
        return settings

    def green_state(self) -> TaskSetState | None:
        if self.green_task_set is None:
            return None
        states = self.world.ecs.task_set_states(self.region, self.cluster, self.service)
        return next((s for s in states if s.task_set_id == self.green_task_set), None)

    def describe_target(self) -> Json:
        """The ECSTarget of GetDeploymentTarget: lifecycle events and both task sets."""
        task_sets = []
        try:
            states = self.world.ecs.task_set_states(self.region, self.cluster, self.service)
        except EcsApiError:  # the service is gone: no task sets to report
            states = []
        labels = {self.blue_task_set: "Blue", self.green_task_set: "Green"}
        for state in states:
            label = labels.get(state.task_set_id)
            if label is None:
                continue
            green = label == "Green"
            weight = self.green_weight if green else 100.0 - self.green_weight
            task_sets.append(
                {
                    "identifer": state.task_set_id,
                    "desiredCount": state.desired,
                    "pendingCount": state.pending,
                    "runningCount": state.running,
                    "status": state.status,
                    "trafficWeight": weight,
                    "targetGroup": {
                        "name": self.group_name(self.green_group if green else self.blue_group)
                    },
                    "taskSetLabel": label,
                }
            )
        status = {"Created": "Pending", "Stopped": "Failed"}.get(self.status, self.status)
        return {
            "deploymentId": self.deployment_id,
            "targetId": self.target_id,
            "targetArn": self.service_arn,
            "lastUpdatedAt": self.world.now(),
            "lifecycleEvents": copy.deepcopy(self.events),
            "status": status,
            "taskSetsInfo": task_sets,
        }

    def group_name(self, arn: str) -> str:
        for name in self.target_group_names:
            if f":targetgroup/{name}/" in arn:
                return str(name)
        return arn


def overview(status: str) -> Json:
    counts = {
        key: 0 for key in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")
    }
    counts[status] = 1
    return counts


def deployment_summary(body: Json) -> Json:
    return {
        "deploymentId": body["deploymentId"],
        "status": body["status"],
        "endTime": body.get("completeTime"),
        "createTime": body["createTime"],
    }
