"""ECS resource names in AWS's long ARN format, and reading them back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArnScope:
    """The partition, region and account every ARN of one request is built in."""

    region: str
    account_id: str

    def build(self, resource: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account_id}:{resource}"

    def cluster(self, cluster: str) -> str:
        return self.build(f"cluster/{cluster}")

    def service(self, cluster: str, service: str) -> str:
        return self.build(f"service/{cluster}/{service}")

    def task(self, cluster: str, task_id: str) -> str:
        return self.build(f"task/{cluster}/{task_id}")

    def task_definition(self, family: str, revision: int) -> str:
        return self.build(f"task-definition/{family}:{revision}")

    def service_deployment(self, cluster: str, service: str, deployment_id: str) -> str:
        return self.build(f"service-deployment/{cluster}/{service}/{deployment_id}")

    def service_revision(self, cluster: str, service: str, revision_id: str) -> str:
        return self.build(f"service-revision/{cluster}/{service}/{revision_id}")

    def capacity_provider(self, name: str) -> str:
        return self.build(f"capacity-provider/{name}")

    def container_instance(self, cluster: str, instance_id: str) -> str:
        return self.build(f"container-instance/{cluster}/{instance_id}")

    def container(self, cluster: str, container_id: str) -> str:
        return self.build(f"container/{cluster}/{container_id}")


def resource_path(reference: str) -> list[str] | None:
    """``["service", "CLUSTER", "NAME"]`` for an ECS ARN, None for a plain name."""
    if not reference.startswith("arn:"):
        return None
    parts = reference.split(":", 5)
    if len(parts) < 6:
        return None
    return parts[5].split("/")


def last_name(reference: str) -> str:
    """The short name in a name or an ARN: ``my-svc`` for ``...:service/c/my-svc``."""
    path = resource_path(reference)
    return path[-1] if path else reference
