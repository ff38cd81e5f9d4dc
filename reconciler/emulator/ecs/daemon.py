"""DAEMON services: one task on each ACTIVE container instance, replaced in place.

A DAEMON service's desired count is the number of ACTIVE instances in its
cluster, kept up to date on every step. A rollout replaces the task of each
instance: the old task is stopped first (as many at once as
``minimumHealthyPercent`` allows; all of them at its DAEMON default of 0), and
the new one starts on that instance once nothing of the service is left there,
so two tasks of one daemon never share an instance. The circuit breaker, the
rollback to the last completed revision, COMPLETED and the steady state work as
for a rolling REPLICA service, whose machine this one builds on.
"""

from __future__ import annotations

import math

from reconciler.emulator.ecs.deployments import RollingDeployment


class DaemonDeployment(RollingDeployment):
    """ECS's rolling update of a service with the DAEMON scheduling strategy."""

    def step(self) -> None:
        service, primary = self.service, self.deployment
        cluster = self.world.region(self.region).clusters[service.cluster_name]
        instances = cluster.active_instances
        desired = len(instances)
        service.body["desiredCount"] = desired
        primary.body["desiredCount"] = desired
        config = service.body["deploymentConfiguration"]
        min_healthy = math.ceil(desired * config["minimumHealthyPercent"] / 100)

        if self.in_progress and self.breaker_tripped():
            self.fail_rollout()
            return

        # One task per instance: start only where nothing of the service still runs
        # or is stopping, so the new task never shares its instance with the old one.
        if not self.halted:
            occupied = {
                task.container_instance_arn for task in service.tasks.values() if not task.stopped
            }
            free = [instance for instance in instances if instance.arn not in occupied]
            if free:
                self.start_tasks(len(free), free)

        # Then stop older revisions' tasks, freeing their instances for the next step.
        # After the starts, so that an instance just freed does not look like a stall.
        self.drain_old_deployments(min_healthy)
        self.finish_if_done()
