"""sample-repo's web (ECS blue/green) and legacy (CodeDeploy) units on the emulator.

Applies run on the emulator's clock and record every progress line track
reports; the helpers read back what a user would check in the console: the
listener rule weights, the listeners' target groups, the service deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.apply import ApplyOptions
from reconciler.aws import Aws
from reconciler.clock import EmulatorClock
from reconciler.loop.applying import ApplyReport, Callbacks, apply_revision
from reconciler.model import Outcome
from reconciler.source import open_repo_files
from reconciler.track import Progress
from tests.apply.sample import OWNER, GitRepo, seed_sample
from tests.conftest import EmulatorHandle, run_async

WEB_IMAGE = "3.2.1"
LEGACY_IMAGE = "7.0.3"
WEB_HOOK = "prod-web-smoke-test"
LEGACY_HOOK = "prod-legacy-smoke-test"


@dataclass
class SampleWorld:
    """The seeded emulator, a git copy of sample-repo, and what applying it showed."""

    emulator: EmulatorHandle
    aws: Aws
    repo: GitRepo
    progress: list[Progress] = field(default_factory=list)

    @classmethod
    def create(cls, emulator: EmulatorHandle, aws: Aws, root: Path) -> SampleWorld:
        seed_sample(emulator)
        return cls(emulator, aws, GitRepo.sample(root))

    def apply(self, *units: str) -> dict[str, Outcome]:
        report = self.apply_report(units)
        return {o.unit: o for o in report.outcomes}

    def apply_report(self, units: Sequence[str]) -> ApplyReport:
        files = open_repo_files(self.repo.root, "HEAD")
        return run_async(
            apply_revision(
                files,
                self.aws,
                EmulatorClock(self.emulator.endpoint),
                ApplyOptions(owner=OWNER),
                list(units),
                repo_path=str(self.repo.root),
                callbacks=Callbacks(on_progress=self.progress.append),
            )
        )

    def set_image(self, unit: str, old: str, new: str) -> None:
        self.repo.replace(f"{unit}/reconciler.yml", f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"')
        self.repo.commit(f"{unit}: image {new}")

    def set_deployment_configuration(self, old: str, new: str) -> None:
        self.repo.replace("web/ecs-service-def.json", old, new)
        self.repo.commit("web: deployment configuration")

    def answer_hook(self, hook: str, answer: str) -> None:
        self.emulator.control("POST", "hooks", {"hook": hook, "answer": answer})

    def stages(self, unit: str) -> list[str]:
        """The progress lines track reported for ``unit``, each once, in order."""
        seen: list[str] = []
        for progress in self.progress:
            if progress.unit == unit and (not seen or seen[-1] != progress.stage):
                seen.append(progress.stage)
        return seen

    # What the console would show.

    def target_group(self, name: str) -> str:
        found = self.emulator.client("elbv2").describe_target_groups(Names=[name])
        return str(found["TargetGroups"][0]["TargetGroupArn"])

    def listener(self, balancer: str, port: int) -> dict[str, Any]:
        elb = self.emulator.client("elbv2")
        arn = elb.describe_load_balancers(Names=[balancer])["LoadBalancers"][0]["LoadBalancerArn"]
        listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        found: dict[str, Any] = next(item for item in listeners if item["Port"] == port)
        return found

    def web_rule_weights(self, port: int) -> tuple[int, int]:
        """(blue, green) weights of the /web/* rule on the listener at ``port``."""
        elb = self.emulator.client("elbv2")
        rules = elb.describe_rules(ListenerArn=self.listener("web", port)["ListenerArn"])["Rules"]
        rule = next(r for r in rules if r["Priority"] == "10")
        groups = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
        weights = {g["TargetGroupArn"]: g["Weight"] for g in groups}
        return weights[self.target_group("web-blue")], weights[self.target_group("web-green")]

    def legacy_listener_on(self, port: int = 80) -> str:
        """The target group (by name) the legacy listener at ``port`` forwards all traffic to."""
        action = self.listener("legacy", port)["DefaultActions"][0]
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}
        ]
        names = {self.target_group(n): n for n in ("legacy-blue", "legacy-green")}
        weighted = [g for g in groups if g.get("Weight", 1) > 0]
        assert len(weighted) == 1, f"traffic is split: {groups}"
        return names[weighted[0]["TargetGroupArn"]]

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.emulator.client("ecs").describe_services(
            cluster="prod", services=[name]
        )["services"][0]
        return found

    def service_deployment(self, name: str) -> dict[str, Any]:
        ecs = self.emulator.client("ecs")
        arn = self.service(name)["currentServiceDeployment"]
        found: dict[str, Any] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"
        ][0]
        return found

    def running_revision(self, name: str) -> str:
        return str(self.service(name)["taskDefinition"]).rsplit("/", 1)[-1]

    def calls(self, *operations: str) -> dict[str, int]:
        stats = self.emulator.stats()
        return {name: stats.get(name, 0) for name in operations}
