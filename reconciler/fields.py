"""How the reconciler names places in ECS definitions: one vocabulary for all stages.

A field path reads the way a person reads a definition:
``containerDefinitions[app].environment[LOG_LEVEL]``. List items are named by
their natural key where they have one (containers by name, variables by name,
tags by key), by their index otherwise; name/value pairs stand for their value.
Rendering records secret paths in these words and the diff reports changes in
them, so a secret found while rendering is masked in a plan.
"""

from __future__ import annotations

# A list field -> (the fields its items are keyed by, the field a key/value item
# collapses to). Only the field name is known when a path is written, so each
# name must mean the same list wherever it occurs in ECS shapes.
ITEM_KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "containerDefinitions": (("name",), None),
    "environment": (("name",), "value"),
    "secrets": (("name",), "valueFrom"),
    "secretOptions": (("name",), "valueFrom"),
    "tags": (("key",), "value"),
    "properties": (("name",), "value"),
    "systemControls": (("namespace",), "value"),
    "extraHosts": (("hostname",), "ipAddress"),
    "dependsOn": (("containerName",), "condition"),
    "ulimits": (("name",), None),
    "volumes": (("name",), None),
    "mountPoints": (("containerPath",), None),
    "volumesFrom": (("sourceContainer",), None),
    "portMappings": (("containerPort", "protocol"), None),
    "resourceRequirements": (("type",), None),
    "inferenceAccelerators": (("deviceName",), None),
    "capacityProviderStrategy": (("capacityProvider",), None),
    "serviceRegistries": (("registryArn",), None),
    "volumeConfigurations": (("name",), None),
    "services": (("portName",), None),
}

USER_KEYED_MAPS = frozenset({"dockerLabels", "options", "driverOpts", "labels"})
"""Maps whose keys are the user's own: their case is kept, and they are named
as ``options[awslogs-group]``."""
