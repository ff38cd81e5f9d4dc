"""A short rolling-update story on the embedded ECS emulator.

Starts the emulator on a free loopback port, then with plain boto3: creates a
Fargate service, rolls out a new image, and rolls out a broken one that the
deployment circuit breaker rolls back. Time is simulated: the whole story takes
a few seconds of wall time. Run it with ``make demo``.
"""

from __future__ import annotations

import sys
from typing import Any

import boto3

from reconciler.emulator.app import Emulator

SEED = {
    "region": "us-east-1",
    "clusters": [{"name": "demo", "capacity_providers": ["FARGATE", "FARGATE_SPOT"]}],
    "vpcs": [
        {
            "name": "demo",
            "cidr": "10.0.0.0/16",
            "subnets": [{"name": "a", "cidr": "10.0.1.0/24", "availability_zone": "us-east-1a"}],
            "security_groups": [{"name": "web", "description": "web tasks"}],
        }
    ],
}


def say(text: str) -> None:
    print(text, flush=True)


def register(ecs: Any, image: str) -> str:
    response = ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "web", "image": image, "portMappings": [{"containerPort": 8080}]}
        ],
    )
    arn: str = response["taskDefinition"]["taskDefinitionArn"]
    say(f"  registered {arn.rsplit('/', 1)[-1]} ({image})")
    return arn


SEEN_EVENTS: set[str] = set()


def follow(emulator: Emulator, ecs: Any, limit: float = 900.0) -> dict[str, Any]:
    """Advance simulated time until the service settles; print new events."""
    seen = SEEN_EVENTS
    waited = 0.0
    while True:
        service = ecs.describe_services(cluster="demo", services=["web"])["services"][0]
        for event in reversed(service["events"]):
            if event["id"] not in seen:
                seen.add(event["id"])
                say(f"  t+{waited:>4.0f}s  {event['message']}")
        primary = service["deployments"][0]
        settled = len(service["deployments"]) == 1 and primary["rolloutState"] != "IN_PROGRESS"
        if settled or waited >= limit:
            return service
        emulator.ticker.tick(5)
        waited += 5


def main() -> int:
    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    try:
        created = emulator.apply_seed(SEED)
        say(f"emulator listening at {emulator.endpoint} (AWS_ENDPOINT_URL)")
        ecs = boto3.client(
            "ecs",
            region_name="us-east-1",
            endpoint_url=emulator.endpoint,
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )

        say("\n1. create service web: 3 tasks, circuit breaker with rollback")
        ecs.create_service(
            cluster="demo",
            serviceName="web",
            taskDefinition=register(ecs, "public.ecr.aws/nginx/nginx:1.27"),
            desiredCount=3,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [created["subnet:a"]],
                    "securityGroups": [created["security_group:web"]],
                }
            },
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
        )
        follow(emulator, ecs)

        say("\n2. roll out a new image")
        ecs.update_service(
            cluster="demo",
            service="web",
            taskDefinition=register(ecs, "public.ecr.aws/nginx/nginx:1.28"),
        )
        service = follow(emulator, ecs)
        say(f"  => {service['deployments'][0]['rolloutState']}, running {service['runningCount']}")

        say("\n3. roll out a broken image (tags starting with 'broken' fail to start)")
        ecs.update_service(
            cluster="demo",
            service="web",
            taskDefinition=register(ecs, "public.ecr.aws/nginx/nginx:broken-1"),
        )
        service = follow(emulator, ecs)
        final = service["taskDefinition"].rsplit("/", 1)[-1]
        say(f"  => the circuit breaker rolled back: web runs {final} again")

        calls = emulator.faults.stats()["calls"]
        say(f"\nAWS calls made in this story: {sum(calls.values())} ({len(calls)} operations)")
        return 0 if final == "web:2" else 1
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
