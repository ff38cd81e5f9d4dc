"""ECS-native blue/green, linear and canary deployments, stage by stage.

A traffic-shifting deployment starts the green tasks (the new revision) at the
full desired count beside the blue ones, then walks ECS's lifecycle stages in
order, reported by DescribeServiceDeployments as ``lifecycleStage``:

RECONCILE_SERVICE, PRE_SCALE_UP, SCALE_UP (green tasks start and run),
POST_SCALE_UP, TEST_TRAFFIC_SHIFT (the test listener rule goes to green),
POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT (the production rule moves:
all at once, in canary's two steps or in linear's steps, with their bake times),
POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME (``bakeTimeInMinutes``, blue still up
for a quick rollback) and CLEAN_UP (blue tasks drain). Each stage lasts at least
one clock step, so a caller polling every second sees every one.

Lifecycle hooks are Lambda functions in AWS; here each hook's answer comes from
the emulator's :class:`~reconciler.emulator.hooks.HookAnswers`. A hook holds its
stage until it answers SUCCEEDED (or times out with CONTINUE); FAILED, a timeout
with ROLLBACK, green tasks that fail to start, or StopServiceDeployment roll
back: traffic returns to blue, green drains, and the service deployment ends
ROLLBACK_SUCCESSFUL.

Which target group is blue is read from the production rule at the start: the
one of ``targetGroupArn`` and ``alternateTargetGroupArn`` it weighs more. The
next deployment therefore alternates between them, as ECS does.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from reconciler.emulator.ecs.deployments import (
    RollingDeployment,
    breaker_settings,
    breaker_threshold,
)
from reconciler.emulator.ecs.records import (
    DeploymentRecord,
    Json,
    ServiceDeploymentRecord,
    ServiceRecord,
)
from reconciler.emulator.ecs.world import World
from reconciler.emulator.hooks import FAILED, SUCCEEDED
from reconciler.emulator.traffic import TrafficError, split_weights

STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
# Hooks of this stage run before production traffic moves, within its stage.
PRE_PRODUCTION = "PRE_PRODUCTION_TRAFFIC_SHIFT"

# Defaults ECS documents for the linear and canary configurations.
LINEAR_DEFAULTS: Json = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
CANARY_DEFAULTS: Json = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}

TRAFFIC_STRATEGIES = frozenset({"BLUE_GREEN", "LINEAR", "CANARY"})


@dataclass(frozen=True, slots=True)
class TrafficStep:
    """Production traffic sent to green by one shift, and the wait before the next."""

    green_percent: float
    bake_seconds: float


@dataclass(frozen=True, slots=True)
class Route:
    """One load balancer of the service: its rules and which target group is which."""

    production_rule: str
    test_rule: str | None
    blue: str
    green: str


@dataclass(slots=True)
class HookRun:
    hook_id: str
    hook: Json
    started_at: float
    status: str = "IN_PROGRESS"

    @property
    def target(self) -> str:
        return str(self.hook.get("hookTargetArn", self.hook.get("targetType", "PAUSE")))

    @property
    def timeout_seconds(self) -> float | None:
        minutes = self.hook.get("timeoutConfiguration", {}).get("timeoutInMinutes")
        return None if minutes is None else float(minutes) * 60

    @property
    def timeout_action(self) -> str:
        return str(self.hook.get("timeoutConfiguration", {}).get("action", "ROLLBACK"))

    def describe(self) -> Json:
        described: Json = {
            "hookId": self.hook_id,
            "targetType": self.hook.get("targetType", "AWS_LAMBDA"),
            "status": self.status,
            "timeoutAction": self.timeout_action,
        }
        if "hookTargetArn" in self.hook:
            described["targetArn"] = self.hook["hookTargetArn"]
        if self.timeout_seconds is not None:
            described["expiresAt"] = self.started_at + self.timeout_seconds
        return described


def service_routes(world: World, region: str, service: ServiceRecord) -> list[Route]:
    """The routes of every load balancer that carries an advancedConfiguration."""
    routes = []
    for balancer in service.body.get("loadBalancers", []):
        advanced = balancer.get("advancedConfiguration")
        if not advanced:
            continue
        primary, alternate = balancer["targetGroupArn"], advanced["alternateTargetGroupArn"]
        rule = advanced["productionListenerRule"]
        weights = world.traffic.rule_weights(region, rule) if world.traffic else {}
        blue = alternate if weights.get(alternate, 0) > weights.get(primary, 0) else primary
        green = primary if blue == alternate else alternate
        routes.append(Route(rule, advanced.get("testListenerRule"), blue, green))
    return routes


def check_traffic_settings(world: World, region: str, settings: Json) -> None:
    """Refuse a traffic-shifting service whose load balancer settings ECS would refuse.

    Raises ValueError with the message of the InvalidParameterException to return.
    """
    strategy = settings.get("deploymentConfiguration", {}).get("strategy", "ROLLING")
    if strategy not in TRAFFIC_STRATEGIES:
        return
    advanced = [
        balancer["advancedConfiguration"]
        for balancer in settings.get("loadBalancers", [])
        if balancer.get("advancedConfiguration")
    ]
    if not advanced:
        raise ValueError(
            f"The {strategy} deployment strategy needs a load balancer with an "
            "advancedConfiguration (alternateTargetGroupArn, productionListenerRule, "
            "roleArn); the emulator does not model Service Connect traffic shifting."
        )
    for config in advanced:
        for key in ("alternateTargetGroupArn", "productionListenerRule", "roleArn"):
            if not config.get(key):
                raise ValueError(f"advancedConfiguration.{key} is required.")
        if world.traffic is None:
            continue
        for key in ("productionListenerRule", "testListenerRule"):
            if config.get(key):
                try:
                    world.traffic.rule_weights(region, config[key])
                except TrafficError as e:
                    raise ValueError(f"advancedConfiguration.{key}: {e}.") from e


class TrafficShiftDeployment:
    """The stages every ECS-native traffic-shifting strategy shares."""

    kind = "blue/green"

    def __init__(
        self,
        world: World,
        region: str,
        service: ServiceRecord,
        deployment: DeploymentRecord,
    ) -> None:
        self.world = world
        self.region = region
        self.service = service
        self._deployment = deployment
        self.tracked = deployment.service_deployment
        # The rolling machine knows how to start and stop a deployment's tasks;
        # green's borrows that, never its step.
        self.scheduler = RollingDeployment(world, region, service, deployment)
        self.config: Json = service.body["deploymentConfiguration"]
        self.blue = self.find_blue()
        # A first deployment has no blue to shift from: traffic stays where the
        # rules send it, and the next deployment shifts to the other target group.
        self.routes = service_routes(world, region, service) if self.blue is not None else []
        self.steps = self.traffic_steps()
        self.shifts_done = 0
        self.last_shift_at = 0.0
        self.hooks: list[HookRun] = []
        self.hooks_started = False
        self.pre_production_done = False
        self.finished = False
        self.stage_index = 0
        self.stage_started_at = world.now()
        self.tracked.body["lifecycleStage"] = STAGES[0]
        self.report_weights(0.0, 0.0)
        world.add_event(
            service, f"{self.kind} deployment {deployment.deployment_id} started: {STAGES[0]}."
        )

    # The DeploymentMachine protocol.

    @property
    def deployment(self) -> DeploymentRecord:
        return self._deployment

    @property
    def settled(self) -> bool:
        return self.finished

    def step(self) -> None:
        if self.finished:
            return
        stage = STAGES[self.stage_index]
        if self.stage_index >= STAGES.index("SCALE_UP") and stage != "CLEAN_UP":
            self.keep_green_scaled()
        if self.green_failed():
            self.roll_back(
                f"ECS deployment circuit breaker: green tasks failed to start in {stage}."
            )
            return
        if not self.run_stage(stage):
            return
        if self.stage_index + 1 == len(STAGES):
            self.succeed()
            return
        self.stage_index += 1
        self.stage_started_at = self.world.now()
        self.hooks, self.hooks_started = [], False
        self.tracked.body["lifecycleStage"] = STAGES[self.stage_index]
        self.tracked.body["updatedAt"] = self.world.now()
        self.tracked.body.pop("lifecycleHookDetails", None)

    # Strategy.

    def traffic_steps(self) -> list[TrafficStep]:
        return [TrafficStep(100.0, 0.0)]

    # Stages.

    def run_stage(self, stage: str) -> bool:
        """Do the stage's work and run its hooks; True when the stage is over."""
        now = self.world.now()
        if stage == "PRODUCTION_TRAFFIC_SHIFT" and not self.pre_production_done:
            if not self.hooks_pass(PRE_PRODUCTION):
                return False
            self.pre_production_done = True
            self.hooks, self.hooks_started = [], False
        if stage == "SCALE_UP" and not self.green_ready():
            return False
        if stage == "TEST_TRAFFIC_SHIFT":
            self.shift_test_traffic(100.0)
        if stage == "PRODUCTION_TRAFFIC_SHIFT" and not self.shift_production_traffic():
            return False
        bake_seconds = float(self.config.get("bakeTimeInMinutes", 0)) * 60
        if stage == "BAKE_TIME" and now < self.stage_started_at + bake_seconds:
            return False
        if stage == "CLEAN_UP" and not self.drain_blue():
            return False
        return self.hooks_pass(stage)

    def hooks_pass(self, stage: str) -> bool:
        """Start the stage's hooks once, then read their answers; True when all passed."""
        if not self.hooks_started:
            self.hooks_started = True
            now = self.world.now()
            self.hooks = [
                HookRun(f"{self.tracked.arn.rsplit('/', 1)[-1]}-{stage}-{index}", hook, now)
                for index, hook in enumerate(self.config.get("lifecycleHooks", []))
                if stage in hook.get("lifecycleStages", [])
            ]
        now = self.world.now()
        for run in self.hooks:
            if run.status != "IN_PROGRESS":
                continue
            answer = self.world.hooks.answer_for(run.target)
            timeout = run.timeout_seconds
            if answer == SUCCEEDED:
                run.status = SUCCEEDED
            elif answer == FAILED:
                run.status = FAILED
            elif timeout is not None and now >= run.started_at + timeout:
                run.status = "TIMED_OUT"
        if self.hooks:
            self.tracked.body["lifecycleHookDetails"] = [run.describe() for run in self.hooks]
        for run in self.hooks:
            rolls_back = run.status == FAILED or (
                run.status == "TIMED_OUT" and run.timeout_action == "ROLLBACK"
            )
            if rolls_back:
                verb = "failed" if run.status == FAILED else "timed out"
                self.roll_back(f"Lifecycle hook {run.target} {verb} in stage {stage}.")
                return False
        return all(run.status != "IN_PROGRESS" for run in self.hooks)

    # Tasks.

    def find_blue(self) -> DeploymentRecord | None:
        """The deployment production traffic is on: the last completed revision's."""
        completed = self.service.last_completed
        for deployment in self.service.deployments[1:]:
            if completed is not None and deployment.revision is completed:
                return deployment
        return None

    def keep_green_scaled(self) -> None:
        scheduler = self.scheduler
        live = scheduler.live_tasks(self._deployment)
        self._deployment.body["desiredCount"] = self.service.desired_count
        missing = self.service.desired_count - len(live)
        if missing > 0:
            scheduler.start_tasks(missing)
        elif missing < 0:
            scheduler.stop_tasks(sorted(live, key=lambda task: task.running)[:-missing])

    def green_ready(self) -> bool:
        live = self.scheduler.live_tasks(self._deployment)
        return len(live) == self.service.desired_count and all(task.running for task in live)

    def green_failed(self) -> bool:
        if breaker_settings(self.service).get("enable"):
            return self._deployment.breaker_failures >= breaker_threshold(self.service)
        return self._deployment.failed_tasks > 0

    def drain_blue(self) -> bool:
        """Stop every task that is not green; True once they are all stopped."""
        scheduler = self.scheduler
        for deployment in self.service.deployments[1:]:
            scheduler.stop_tasks(scheduler.live_tasks(deployment))
            deployment.body["desiredCount"] = 0
        green = self._deployment.deployment_id
        return all(
            task.stopped for task in self.service.tasks.values() if task.deployment_id != green
        )

    # Traffic.

    def shift_production_traffic(self) -> bool:
        """Take the next step when its time has come; True once all traffic is on green."""
        now = self.world.now()
        if self.shifts_done == len(self.steps):
            return True
        if (
            self.shifts_done > 0
            and now < self.last_shift_at + self.steps[self.shifts_done - 1].bake_seconds
        ):
            return False
        step = self.steps[self.shifts_done]
        for route in self.routes:
            self.set_weights(route.production_rule, route, step.green_percent)
        self.shifts_done += 1
        self.last_shift_at = now
        test = 100.0 if self.has_test_rule() else 0.0
        self.report_weights(step.green_percent, test)
        self.world.add_event(
            self.service,
            f"{self.kind} deployment {self._deployment.deployment_id} shifted "
            f"{step.green_percent:g}% of production traffic to the new revision.",
        )
        return self.shifts_done == len(self.steps)

    def shift_test_traffic(self, green_percent: float) -> None:
        for route in self.routes:
            if route.test_rule:
                self.set_weights(route.test_rule, route, green_percent)
        if self.has_test_rule():
            self.report_weights(0.0, green_percent)

    def has_test_rule(self) -> bool:
        return any(route.test_rule for route in self.routes)

    def set_weights(self, rule: str, route: Route, green_percent: float) -> None:
        if self.world.traffic is None:
            return
        weights = split_weights(route.blue, route.green, green_percent)
        try:
            self.world.traffic.set_rule_weights(self.region, rule, weights)
        except TrafficError as e:
            # Someone deleted the rule mid-deployment: tell, and keep the clock going.
            self.world.add_event(self.service, f"could not shift traffic: {e}.")

    def report_weights(self, production: float, test: float) -> None:
        target = self._deployment.revision.arn
        self.tracked.traffic_weights[target] = {
            "requestedProductionTrafficWeight": production,
            "requestedTestTrafficWeight": test,
        }
        if self.blue is not None:
            self.tracked.traffic_weights[self.blue.revision.arn] = {
                "requestedProductionTrafficWeight": 100.0 - production,
                "requestedTestTrafficWeight": 100.0 - test,
            }

    # Endings.

    def succeed(self) -> None:
        service, green, tracked = self.service, self._deployment, self.tracked
        now = self.world.now()
        self.finished = True
        green.body["rolloutState"] = "COMPLETED"
        green.body["rolloutStateReason"] = f"ECS deployment {green.deployment_id} completed."
        green.body["updatedAt"] = now
        del service.deployments[1:]
        service.last_completed = green.revision
        tracked.body["status"] = "SUCCESSFUL"
        tracked.body["finishedAt"] = now
        tracked.body["updatedAt"] = now
        tracked.traffic_weights = {green.revision.arn: tracked.traffic_weights[green.revision.arn]}
        breaker = tracked.body.get("deploymentCircuitBreaker", {})
        if breaker.get("status") == "MONITORING":
            breaker["status"] = "MONITORING_COMPLETE"
        self.world.add_event(service, f"(deployment {green.deployment_id}) deployment completed.")
        service.steady = True
        self.world.add_event(service, "has reached a steady state.")

    def roll_back(self, reason: str) -> None:
        """Put traffic back on blue and make blue PRIMARY again; green drains."""
        service, green, tracked = self.service, self._deployment, self.tracked
        now = self.world.now()
        self.finished = True
        green.body["rolloutState"] = "FAILED"
        green.body["rolloutStateReason"] = reason
        green.body["updatedAt"] = now
        if green.breaker_failures and "deploymentCircuitBreaker" in tracked.body:
            tracked.body["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
        self.world.add_event(
            service, f"(deployment {green.deployment_id}) deployment failed: {reason}"
        )
        blue = self.blue
        if blue is None or blue not in service.deployments:
            # Nothing ever completed: there is no blue to go back to, and this
            # machine, finished, launches nothing more.
            tracked.body.update(
                status="STOPPED", statusReason=reason, stoppedAt=now, finishedAt=now
            )
            return

        for route in self.routes:
            self.set_weights(route.production_rule, route, 0.0)
            if route.test_rule:
                self.set_weights(route.test_rule, route, 0.0)
        self.report_weights(0.0, 0.0)
        tracked.body["status"] = "ROLLBACK_IN_PROGRESS"
        tracked.body["updatedAt"] = now
        tracked.body["rollback"] = {
            "reason": reason,
            "startedAt": now,
            "serviceRevisionArn": blue.revision.arn,
        }
        # Blue serves again as the PRIMARY; the rolling machine drains green and
        # reports ROLLBACK_SUCCESSFUL to this service deployment when it is done.
        service.deployments.remove(blue)
        service.deployments.insert(0, blue)
        green.body["status"] = "ACTIVE"
        blue.body.update(status="PRIMARY", rolloutState="IN_PROGRESS", updatedAt=now)
        blue.service_deployment = tracked
        blue.rollback = True
        for key in ("taskDefinition", "networkConfiguration", "platformVersion", "launchType"):
            if key in blue.revision.body:
                service.body[key] = copy.deepcopy(blue.revision.body[key])
        service.machine = RollingDeployment(
            self.world, self.region, service, blue, rollback_of=tracked
        )
        service.steady = False
        self.world.add_event(service, f"rolling back to deployment {blue.deployment_id}.")


class BlueGreenDeployment(TrafficShiftDeployment):
    """Strategy BLUE_GREEN: production traffic moves to green all at once."""

    kind = "blue/green"


class CanaryDeployment(TrafficShiftDeployment):
    """Strategy CANARY: canaryPercent first, the rest after canaryBakeTimeInMinutes."""

    kind = "canary"

    def traffic_steps(self) -> list[TrafficStep]:
        config = {**CANARY_DEFAULTS, **self.config.get("canaryConfiguration", {})}
        bake = float(config["canaryBakeTimeInMinutes"]) * 60
        return [TrafficStep(float(config["canaryPercent"]), bake), TrafficStep(100.0, 0.0)]


class LinearDeployment(TrafficShiftDeployment):
    """Strategy LINEAR: stepPercent more every stepBakeTimeInMinutes until all of it."""

    kind = "linear"

    def traffic_steps(self) -> list[TrafficStep]:
        config = {**LINEAR_DEFAULTS, **self.config.get("linearConfiguration", {})}
        percent = float(config["stepPercent"])
        bake = float(config["stepBakeTimeInMinutes"]) * 60
        count = math.ceil(100.0 / percent - 1e-9)
        steps = [TrafficStep(min(100.0, percent * (i + 1)), bake) for i in range(count)]
        steps[-1] = TrafficStep(100.0, 0.0)
        return steps


def traffic_machine(
    world: World,
    region: str,
    service: ServiceRecord,
    deployment: DeploymentRecord,
) -> TrafficShiftDeployment:
    strategy = service.body["deploymentConfiguration"]["strategy"]
    kinds: dict[str, type[TrafficShiftDeployment]] = {
        "BLUE_GREEN": BlueGreenDeployment,
        "CANARY": CanaryDeployment,
        "LINEAR": LinearDeployment,
    }
    return kinds[strategy](world, region, service, deployment)


def stop_traffic_shift(
    service: ServiceRecord, tracked: ServiceDeploymentRecord, reason: str
) -> bool:
    """Roll back the service's traffic-shifting deployment; False if it is not one."""
    machine = service.machine
    if not isinstance(machine, TrafficShiftDeployment) or machine.tracked is not tracked:
        return False
    machine.roll_back(reason)
    return True
