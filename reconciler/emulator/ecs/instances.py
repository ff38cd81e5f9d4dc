"""Simulated EC2 container instances: where EC2 tasks, and DAEMON services, run.

A cluster starts with :data:`DEFAULT_INSTANCE_COUNT` ACTIVE instances (a seed
file may ask for another number); nobody registers them, because no EC2
instance and no container agent exist here. An instance is a name, an id and a
tally: ListContainerInstances and DescribeContainerInstances report it, a DAEMON
service runs one task on each, and other EC2 tasks are spread over them in
turn. CPU and memory are counted down by the tasks placed, but never refuse a
placement: capacity is not modelled.

Lowering the count deregisters the newest instances: their tasks are stopped
and they stay describable as INACTIVE, as on ECS.
"""

from __future__ import annotations

import copy

from reconciler.emulator.ecs.arns import last_name
from reconciler.emulator.ecs.errors import invalid_parameter
from reconciler.emulator.ecs.pagination import paginate, with_token
from reconciler.emulator.ecs.records import (
    ClusterRecord,
    ContainerInstanceRecord,
    Json,
    TaskRecord,
)
from reconciler.emulator.ecs.services import find_cluster
from reconciler.emulator.ecs.tasks import request_stop
from reconciler.emulator.ecs.world import World

DEFAULT_INSTANCE_COUNT = 2
DESCRIBE_INSTANCES_LIMIT = 100

# What one simulated instance offers: an m5.large after the agent's reservation.
INSTANCE_TYPE = "m5.large"
REGISTERED_CPU = 2048
REGISTERED_MEMORY = 7680
RESERVED_PORTS = ["22", "2375", "2376", "51678", "51679"]
AGENT_VERSION = "1.89.2"
DOCKER_VERSION = "DockerVersion: 25.0.6"
ZONES = ("a", "b", "c")

DEREGISTERED_REASON = "Container instance deregistered: the emulator's instance count was lowered."


def integer_resource(name: str, value: int) -> Json:
    return {
        "name": name,
        "type": "INTEGER",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": value,
    }


def ports_resource(name: str, ports: list[str]) -> Json:
    return {
        "name": name,
        "type": "STRINGSET",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": 0,
        "stringSetValue": list(ports),
    }


def register_instance(world: World, region: str, cluster: ClusterRecord) -> ContainerInstanceRecord:
    instance_id = world.new_task_id()
    ec2_instance_id = f"i-{world.rng.getrandbits(68):017x}"
    zone = f"{region}{ZONES[len(cluster.instances) % len(ZONES)]}"
    body: Json = {
        "ec2InstanceId": ec2_instance_id,
        "agentConnected": True,
        "registeredAt": world.now(),
        "versionInfo": {
            "agentVersion": AGENT_VERSION,
            "agentHash": "e3e1ea6b",
            "dockerVersion": DOCKER_VERSION,
        },
        "attributes": [
            {"name": "ecs.instance-type", "value": INSTANCE_TYPE},
            {"name": "ecs.availability-zone", "value": zone},
            {"name": "ecs.os-type", "value": "linux"},
            {"name": "ecs.cpu-architecture", "value": "x86_64"},
        ],
        "attachments": [],
        "tags": [],
    }
    instance = ContainerInstanceRecord(
        arn=world.scope(region).container_instance(cluster.name, instance_id),
        instance_id=instance_id,
        ec2_instance_id=ec2_instance_id,
        body=body,
    )
    cluster.instances[instance_id] = instance
    return instance


def set_instance_count(world: World, region: str, cluster: ClusterRecord, count: int) -> None:
    """Register or deregister instances until ``count`` are ACTIVE.

    Services of the cluster are woken up: a DAEMON service places a task on a
    new instance, and any service replaces the tasks that stopped with an
    instance that left.
    """
    if count < 0:
        raise ValueError(f"a cluster cannot have {count} container instances")
    active = cluster.active_instances
    for _ in range(count - len(active)):
        register_instance(world, region, cluster)
    for instance in active[count:][::-1]:
        instance.status = "INACTIVE"
        instance.body["agentConnected"] = False
        instance.version += 1
        for task in cluster.tasks.values():
            if task.live and task.container_instance_arn == instance.arn:
                request_stop(world, task, DEREGISTERED_REASON, "UserInitiated")
                if task.service_name is None:
                    world.mark_task_moving(region, task)
    for service in cluster.services.values():
        if service.status == "ACTIVE" and service.machine is not None:
            if service.body.get("schedulingStrategy") == "DAEMON":
                service.body["desiredCount"] = count
            service.steady = False
            world.mark_busy(region, service)


def task_units(task: TaskRecord, resource: str) -> int:
    """The CPU units or MiB of memory a task reserves on its instance."""
    body = task.task_definition.body
    try:
        return int(str(body.get(resource, "")))
    except ValueError:
        pass
    keys = ("cpu",) if resource == "cpu" else ("memory", "memoryReservation")
    total = 0
    for container in body["containerDefinitions"]:
        value = next((container[key] for key in keys if container.get(key) is not None), 0)
        total += int(value)
    return total


def describe_instance(
    cluster: ClusterRecord, instance: ContainerInstanceRecord, include: frozenset[str]
) -> Json:
    placed = [
        task
        for task in cluster.tasks.values()
        if task.container_instance_arn == instance.arn and not task.stopped
    ]
    cpu = sum(task_units(task, "cpu") for task in placed)
    memory = sum(task_units(task, "memory") for task in placed)
    described = copy.deepcopy(instance.body)
    tags = described.pop("tags")
    described.update(
        containerInstanceArn=instance.arn,
        status=instance.status,
        version=instance.version,
        runningTasksCount=sum(1 for task in placed if task.running),
        pendingTasksCount=sum(1 for task in placed if task.starting),
        registeredResources=[
            integer_resource("CPU", REGISTERED_CPU),
            integer_resource("MEMORY", REGISTERED_MEMORY),
            ports_resource("PORTS", RESERVED_PORTS),
            ports_resource("PORTS_UDP", []),
        ],
        remainingResources=[
            integer_resource("CPU", max(0, REGISTERED_CPU - cpu)),
            integer_resource("MEMORY", max(0, REGISTERED_MEMORY - memory)),
            ports_resource("PORTS", RESERVED_PORTS),
            ports_resource("PORTS_UDP", []),
        ],
    )
    if "TAGS" in include:
        described["tags"] = tags
    if "CONTAINER_INSTANCE_HEALTH" in include:
        status = "OK" if instance.active else "IMPAIRED"
        described["healthStatus"] = {"overallStatus": status, "details": []}
    return described


def list_container_instances(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params.get("cluster"))
    if params.get("filter"):
        # The cluster query language is not modelled (the README says so): a
        # filtered listing is refused rather than silently wrong.
        raise invalid_parameter(
            "The emulator does not evaluate cluster query language filters; "
            "list without a filter and select from DescribeContainerInstances."
        )
    # Deregistered (INACTIVE) instances are not listed; no status selects them.
    wanted = params.get("status")
    arns = [
        instance.arn
        for instance in cluster.instances.values()
        if instance.status != "INACTIVE" and (wanted is None or instance.status == wanted)
    ]
    page, token = paginate(arns, params, default_size=100)
    return with_token({"containerInstanceArns": page}, token)


def describe_container_instances(world: World, region: str, params: Json) -> Json:
    references = params["containerInstances"]
    if len(references) > DESCRIBE_INSTANCES_LIMIT:
        raise invalid_parameter(
            f"containerInstances can have at most {DESCRIBE_INSTANCES_LIMIT} items; "
            f"{len(references)} were given."
        )
    cluster = find_cluster(world, region, params.get("cluster"))
    include = frozenset(params.get("include", []))
    described, failures = [], []
    for reference in references:
        instance = cluster.instances.get(last_name(reference))
        if instance is None:
            arn = (
                reference
                if reference.startswith("arn:")
                else world.scope(region).container_instance(cluster.name, reference)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(describe_instance(cluster, instance, include))
    return {"containerInstances": described, "failures": failures}
