"""The emulator's ECS API: one backend object the HTTP server hands requests to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.emulator.ecs import (
    clusters,
    instances,
    operations,
    services,
    taskdefs,
    tasksets,
)
from reconciler.emulator.ecs.arns import last_name
from reconciler.emulator.ecs.errors import EcsApiError, invalid_parameter
from reconciler.emulator.ecs.records import Json, ServiceRecord
from reconciler.emulator.ecs.tasksets import TaskSetState
from reconciler.emulator.ecs.validation import operation_model, validate_request
from reconciler.emulator.ecs.world import World
from reconciler.emulator.hooks import HookAnswers
from reconciler.emulator.traffic import Traffic

logger = logging.getLogger(__name__)

Operation = Callable[[World, str, Json], Json]

OPERATIONS: dict[str, Operation] = {
    "CreateCluster": clusters.create_cluster,
    "DescribeClusters": clusters.describe_clusters,
    "ListClusters": clusters.list_clusters,
    "DeleteCluster": clusters.delete_cluster,
    "PutClusterCapacityProviders": clusters.put_cluster_capacity_providers,
    "DescribeCapacityProviders": clusters.describe_capacity_providers,
    "ListContainerInstances": instances.list_container_instances,
    "DescribeContainerInstances": instances.describe_container_instances,
    "RegisterTaskDefinition": taskdefs.register_task_definition,
    "DescribeTaskDefinition": taskdefs.describe_task_definition,
    "ListTaskDefinitions": taskdefs.list_task_definitions,
    "ListTaskDefinitionFamilies": taskdefs.list_task_definition_families,
    "DeregisterTaskDefinition": taskdefs.deregister_task_definition,
    "CreateService": services.create_service,
    "UpdateService": services.update_service,
    "DescribeServices": services.describe_services,
    "ListServices": services.list_services,
    "DeleteService": services.delete_service,
    "ListServiceDeployments": services.list_service_deployments,
    "ListTasks": operations.list_tasks,
    "DescribeTasks": operations.describe_tasks,
    "StopTask": operations.stop_task,
    "RunTask": operations.run_task,
    "TagResource": operations.tag_resource,
    "UntagResource": operations.untag_resource,
    "ListTagsForResource": operations.list_tags_for_resource,
    "DescribeServiceDeployments": operations.describe_service_deployments,
    "StopServiceDeployment": operations.stop_service_deployment,
    "DescribeServiceRevisions": operations.describe_service_revisions,
}


class EcsBackend:
    """ECS as the emulator serves it: requests in, JSON-able responses out.

    ``now`` gives simulated epoch seconds; the backend never reads the wall
    clock. The server calls :meth:`advance` after each clock step, from any
    thread: one lock guards all state.

    Images fail to start when they match a pattern given to
    :meth:`set_failing_images`, and, even with no pattern set, when their tag
    starts with ``broken`` (``nginx:broken-1``).
    """

    def __init__(
        self,
        now: Callable[[], float],
        account_id: str = "123456789012",
        *,
        traffic: Traffic | None = None,
        hooks: HookAnswers | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._world = World(now, account_id, traffic, hooks)

    def handle(self, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one ECS request, or raise :class:`EcsApiError` as AWS would refuse it."""
        run = OPERATIONS.get(operation)
        if run is None:
            operation_model(operation)  # raises for a name that is no ECS operation
            raise EcsApiError(
                "UnknownOperationException",
                f"The emulator does not implement the ECS operation {operation}.",
            )
        validate_request(operation, params)
        with self._lock:
            response = run(self._world, region, params)
        logger.debug("ecs %s in %s answered", operation, region)
        return response

    def advance(self) -> None:
        """Progress every busy service and moving task by one clock step."""
        with self._lock:
            world = self._world
            for key, (region, service) in list(world.busy.items()):
                if not operations.advance_service(world, region, service):
                    del world.busy[key]
            for arn, (_, task) in list(world.moving_tasks.items()):
                if not operations.advance_task(world, task):
                    del world.moving_tasks[arn]

    def set_failing_images(self, images: Iterable[str]) -> None:
        """fnmatch patterns of images whose tasks fail to start (replacing earlier ones)."""
        with self._lock:
            self._world.set_failing_images(images)

    def reset(self) -> None:
        """Forget every resource and the failing patterns; ids start over."""
        with self._lock:
            self._world.reset()
            self._world.set_failing_images(())

    def set_container_instances(self, region: str, cluster: str, count: int) -> None:
        """Make ``count`` simulated container instances ACTIVE in an existing cluster.

        DAEMON services follow at the next clock step: a task on each new
        instance, none left on a deregistered one.
        """
        with self._lock:
            found = services.find_cluster(self._world, region, cluster)
            instances.set_instance_count(self._world, region, found, count)

    def service_exists(self, region: str, cluster: str, service: str) -> bool:
        """Whether an ACTIVE service exists (for Application Auto Scaling targets)."""
        with self._lock:
            found = self._world.region(region).clusters.get(last_name(cluster))
            if found is None or not found.active:
                return False
            record = found.services.get(last_name(service))
            return record is not None and record.status == "ACTIVE"

    # Task sets, for the CodeDeploy backend (internal, as on AWS).

    def _code_deploy_service(self, region: str, cluster: str, service: str) -> ServiceRecord:
        found = services.active_service(
            services.find_cluster(self._world, region, cluster), service
        )
        if not services.uses_code_deploy(found):
            raise invalid_parameter(
                f"The service {found.name} does not use the CODE_DEPLOY deployment controller."
            )
        return found

    def describe_code_deploy_service(self, region: str, cluster: str, service: str) -> Json:
        """DescribeServices' view of an ACTIVE CODE_DEPLOY service; EcsApiError otherwise."""
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            return services.describe_service(found, include_tags=False)

    def create_task_set(
        self, region: str, cluster: str, service: str, settings: Json, external_id: str
    ) -> str:
        """Start a task set at 0% from ``settings`` (taskDefinition, network...); its id."""
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            if "networkConfiguration" in settings or "networkConfiguration" in found.body:
                definition = taskdefs.resolve_task_definition(
                    self._world.region(region), settings["taskDefinition"]
                )
                services.check_placement({**found.body, **settings}, definition)
            created = tasksets.create_task_set(
                self._world, region, found, settings, 0.0, external_id=external_id
            )
            return created.task_set_id

    def scale_task_set(
        self, region: str, cluster: str, service: str, task_set: str, percent: float
    ) -> None:
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            tasksets.set_task_set_scale(self._world, region, found, task_set, percent)

    def make_primary_task_set(self, region: str, cluster: str, service: str, task_set: str) -> None:
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            tasksets.make_primary(self._world, found, task_set)

    def delete_task_set(self, region: str, cluster: str, service: str, task_set: str) -> None:
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            tasksets.delete_task_set(self._world, region, found, task_set)

    def task_set_states(self, region: str, cluster: str, service: str) -> list[TaskSetState]:
        """Every task set of the service: counts, failures and stability."""
        with self._lock:
            found = self._code_deploy_service(region, cluster, service)
            return [tasksets.task_set_state(found, t) for t in found.task_sets]
