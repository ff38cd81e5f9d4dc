"""Clusters and the Fargate capacity providers every account has.

A new cluster comes with simulated EC2 container instances (``instances``), so
that EC2 and DAEMON services have somewhere to run.
"""

from __future__ import annotations

import copy

from reconciler.emulator.ecs.arns import last_name
from reconciler.emulator.ecs.errors import EcsApiError, invalid_parameter
from reconciler.emulator.ecs.instances import DEFAULT_INSTANCE_COUNT, set_instance_count
from reconciler.emulator.ecs.pagination import paginate, with_token
from reconciler.emulator.ecs.records import ClusterRecord, Json
from reconciler.emulator.ecs.services import FARGATE_PROVIDERS, find_cluster
from reconciler.emulator.ecs.tags import check_tags
from reconciler.emulator.ecs.world import World

DEFAULT_CLUSTER_SETTINGS: list[Json] = [{"name": "containerInsights", "value": "disabled"}]


def check_strategy(providers: list[str], strategy: list[Json]) -> None:
    for name in providers:
        if name not in FARGATE_PROVIDERS:
            raise invalid_parameter(f"The specified capacity provider '{name}' was not found.")
    for item in strategy:
        if item["capacityProvider"] not in providers:
            raise invalid_parameter(
                f"The specified capacity provider strategy cannot contain a capacity provider "
                f"that is not associated with the cluster: {item['capacityProvider']}."
            )


def create_cluster(world: World, region: str, params: Json) -> Json:
    state = world.region(region)
    name = params.get("clusterName", "default")
    existing = state.clusters.get(name)
    if existing is not None and existing.active:
        # ECS answers a repeated CreateCluster with the cluster that exists.
        return {"cluster": describe_cluster(existing, frozenset({"TAGS", "SETTINGS"}))}
    tags = params.get("tags", [])
    check_tags(tags)
    providers = params.get("capacityProviders", [])
    strategy = params.get("defaultCapacityProviderStrategy", [])
    check_strategy(providers, strategy)

    settings = {item["name"]: item for item in copy.deepcopy(DEFAULT_CLUSTER_SETTINGS)}
    for item in params.get("settings", []):
        settings[item["name"]] = copy.deepcopy(item)
    arn = world.scope(region).cluster(name)
    body: Json = {
        key: copy.deepcopy(value) for key, value in params.items() if key not in ("tags",)
    }
    body.pop("clusterName", None)
    body.update(
        clusterArn=arn,
        clusterName=name,
        status="ACTIVE",
        settings=list(settings.values()),
        capacityProviders=copy.deepcopy(providers),
        defaultCapacityProviderStrategy=copy.deepcopy(strategy),
    )
    cluster = ClusterRecord(arn, name, body, copy.deepcopy(tags))
    state.clusters[name] = cluster
    set_instance_count(world, region, cluster, DEFAULT_INSTANCE_COUNT)
    return {"cluster": describe_cluster(cluster, frozenset({"TAGS", "SETTINGS"}))}


def describe_cluster(cluster: ClusterRecord, include: frozenset[str]) -> Json:
    described = copy.deepcopy(cluster.body)
    described.update(
        registeredContainerInstancesCount=len(cluster.active_instances),
        runningTasksCount=sum(1 for task in cluster.tasks.values() if task.running),
        pendingTasksCount=sum(1 for task in cluster.tasks.values() if task.starting),
        activeServicesCount=sum(1 for s in cluster.services.values() if s.status == "ACTIVE"),
        statistics=[],
    )
    if "SETTINGS" not in include:
        described.pop("settings", None)
    if "CONFIGURATIONS" not in include:
        described.pop("configuration", None)
    if "TAGS" in include:
        described["tags"] = copy.deepcopy(cluster.tags)
    return described


def describe_clusters(world: World, region: str, params: Json) -> Json:
    state = world.region(region)
    include = frozenset(params.get("include", []))
    described, failures = [], []
    for reference in params.get("clusters", ["default"]):
        cluster = state.clusters.get(last_name(reference))
        if cluster is None:
            arn = (
                reference
                if reference.startswith("arn:")
                else world.scope(region).cluster(reference)
            )
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            described.append(describe_cluster(cluster, include))
    return {"clusters": described, "failures": failures}


def list_clusters(world: World, region: str, params: Json) -> Json:
    arns = [c.arn for c in world.region(region).clusters.values() if c.active]
    page, token = paginate(arns, params, default_size=100)
    return with_token({"clusterArns": page}, token)


def delete_cluster(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params["cluster"])
    if any(service.status != "INACTIVE" for service in cluster.services.values()):
        raise EcsApiError(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        )
    if any(task.live for task in cluster.tasks.values()):
        raise EcsApiError(
            "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."
        )
    cluster.body["status"] = "INACTIVE"
    return {"cluster": describe_cluster(cluster, frozenset())}


def put_cluster_capacity_providers(world: World, region: str, params: Json) -> Json:
    cluster = find_cluster(world, region, params["cluster"])
    providers = params["capacityProviders"]
    strategy = params["defaultCapacityProviderStrategy"]
    check_strategy(providers, strategy)
    cluster.body["capacityProviders"] = copy.deepcopy(providers)
    cluster.body["defaultCapacityProviderStrategy"] = copy.deepcopy(strategy)
    return {"cluster": describe_cluster(cluster, frozenset({"SETTINGS"}))}


def describe_capacity_providers(world: World, region: str, params: Json) -> Json:
    scope = world.scope(region)
    wanted = params.get("capacityProviders") or sorted(FARGATE_PROVIDERS)
    found, failures = [], []
    for reference in wanted:
        name = last_name(reference)
        if name in FARGATE_PROVIDERS:
            found.append(
                {
                    "capacityProviderArn": scope.capacity_provider(name),
                    "name": name,
                    "status": "ACTIVE",
                    "tags": [],
                }
            )
        else:
            failures.append({"arn": reference, "reason": "MISSING"})
    page, token = paginate(found, params, default_size=10)
    return with_token({"capacityProviders": page, "failures": failures}, token)
