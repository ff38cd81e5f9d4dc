"""A CODE_DEPLOY ECS service behind a load balancer on the emulator, and its CodeDeploy group.

The seed creates the load balancer (production listener on 80, test listener on
8080, both forwarding to shop-blue) and the CodeDeploy application and group.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.conftest import EmulatorHandle

SEED = {
    "clusters": ["prod"],
    "vpcs": [
        {
            "name": "prod",
            "cidr": "10.0.0.0/16",
            "subnets": [{"name": "private-a", "cidr": "10.0.1.0/24"}],
        }
    ],
    "load_balancers": [
        {
            "name": "shop",
            "vpc": "prod",
            "subnets": ["private-a"],
            "target_groups": [
                {"name": "shop-blue", "port": 8080},
                {"name": "shop-green", "port": 8080},
            ],
            "listeners": [
                {"port": 80, "default_target_group": "shop-blue"},
                {"port": 8080, "default_target_group": "shop-blue"},
            ],
        }
    ],
}
FINISHED = {"Succeeded", "Failed", "Stopped"}
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}}


class CodeDeployWorld:
    def __init__(self, emulator: EmulatorHandle, **group: Any) -> None:
        seed = json.loads(json.dumps(SEED))
        seed["codedeploy"] = [
            {
                "application": "shop",
                "deployment_groups": [
                    {
                        "name": "shop",
                        "service": "prod/shop",
                        "target_groups": ["shop-blue", "shop-green"],
                        "listener": "shop:80",
                        "test_listener": "shop:8080",
                        **group,
                    }
                ],
            }
        ]
        self.emulator = emulator
        self.refs = emulator.seed(seed)
        self.ecs = emulator.client("ecs")
        self.elb = emulator.client("elbv2")
        self.codedeploy = emulator.client("codedeploy")
        self.blue = self.refs["target_group:shop-blue"]
        self.green = self.refs["target_group:shop-green"]
        self.production = self.refs["listener:shop:80"]
        self.test = self.refs["listener:shop:8080"]

    def register(self, image: str) -> str:
        arn: str = self.ecs.register_task_definition(
            family="shop",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "shop", "image": image, "portMappings": [{"containerPort": 8080}]}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        return arn

    def create_service(self, image: str = "shop:1") -> str:
        task_definition = self.register(image)
        self.ecs.create_service(
            cluster="prod",
            serviceName="shop",
            taskDefinition=task_definition,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration=NETWORK,
            deploymentController={"type": "CODE_DEPLOY"},
            loadBalancers=[
                {"targetGroupArn": self.blue, "containerName": "shop", "containerPort": 8080}
            ],
        )
        self.emulator.tick(10)
        return task_definition

    def deploy(
        self,
        image: str,
        hooks: list[dict[str, str]] | None = None,
        as_json: bool = False,
        properties: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        appspec: dict[str, Any] = {
            "version": 0.0,
            "Resources": [
                {
                    "TargetService": {
                        "Type": "AWS::ECS::Service",
                        "Properties": {
                            "TaskDefinition": self.register(image),
                            "LoadBalancerInfo": {"ContainerName": "shop", "ContainerPort": 8080},
                            "PlatformVersion": "LATEST",
                            "NetworkConfiguration": {
                                "AwsvpcConfiguration": {
                                    "Subnets": ["subnet-1"],
                                    "AssignPublicIp": "DISABLED",
                                }
                            },
                        },
                    }
                }
            ],
        }
        if hooks:
            appspec["Hooks"] = hooks
        appspec["Resources"][0]["TargetService"]["Properties"].update(properties or {})
        content = json.dumps(appspec) if as_json else yaml.safe_dump(appspec)
        deployment_id: str = self.codedeploy.create_deployment(
            applicationName="shop",
            deploymentGroupName="shop",
            revision={
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": content},
            },
            **extra,
        )["deploymentId"]
        return deployment_id

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.codedeploy.get_deployment(deploymentId=deployment_id)[
            "deploymentInfo"
        ]
        return info

    def run(self, deployment_id: str, every: int = 5, limit: int = 7200) -> list[str]:
        """Tick until the deployment ends; the statuses it went through."""
        statuses: list[str] = []
        for _ in range(0, limit, every):
            status = self.deployment(deployment_id)["status"]
            if not statuses or statuses[-1] != status:
                statuses.append(status)
            if status in FINISHED:
                return statuses
            self.emulator.tick(every)
        raise AssertionError(f"{deployment_id} did not finish in {limit} s")

    def tick_until(self, deployment_id: str, status: str, limit: int = 600) -> None:
        for _ in range(limit):
            if self.deployment(deployment_id)["status"] == status:
                return
            self.emulator.tick(1)
        raise AssertionError(f"{deployment_id} never became {status}")

    def listener_weights(self, listener: str) -> tuple[int, int]:
        action = self.elb.describe_listeners(ListenerArns=[listener])["Listeners"][0][
            "DefaultActions"
        ][0]
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        weights = (
            {g["TargetGroupArn"]: g["Weight"] for g in groups}
            if groups
            else {action["TargetGroupArn"]: 1}
        )
        total = sum(weights.values())
        return (
            round(100 * weights.get(self.blue, 0) / total),
            round(100 * weights.get(self.green, 0) / total),
        )

    def task_sets(self) -> list[dict[str, Any]]:
        service = self.ecs.describe_services(cluster="prod", services=["shop"])["services"][0]
        task_sets: list[dict[str, Any]] = service["taskSets"]
        return task_sets

    def running_images(self) -> set[str]:
        arns = self.ecs.list_tasks(cluster="prod", serviceName="shop")["taskArns"]
        tasks = self.ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
        return {
            container["image"]
            for task in tasks
            if task["lastStatus"] == "RUNNING"
            for container in task["containers"]
        }
