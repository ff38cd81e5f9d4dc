"""Check rendered definitions before anything reaches AWS.

Two passes over each rendered unit, both pure functions returning findings:

- **the API's own shapes**: the task definition against the input of
  RegisterTaskDefinition and the service definition against CreateService, as
  botocore's ECS model describes them (unknown fields, wrong types, missing
  required members), plus the enum values botocore's validator leaves unchecked;
- **what ECS would refuse later** (or accept and regret): resource sums,
  Fargate sizes, network modes and ports, capacity providers, load balancer
  targets, container dependencies, awslogs options, and two units claiming one
  service.

UpdateService takes a subset of CreateService's members with the same shapes,
so checking against CreateService covers both.

Field paths read as a user would point at the file: list items that carry a
``name`` (containers, environment, secrets, volumes) are indexed by it, as in
``containerDefinitions[app].portMappings[0].containerPort``.
"""

from __future__ import annotations

import difflib
import functools
import json
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from reconciler.model import DesiredUnit, Finding, JsonObject, Severity

PathToken = str | int
"""One step of a field path: a key, or a list index."""

# Lists whose items are identified by their ``name``: a path into them names the
# item (``environment[DB_HOST]``) rather than counting to it.
NAMED_LISTS = frozenset({"containerDefinitions", "environment", "secrets", "volumes"})

# Fargate task sizes AWS accepts (its published table): cpu units -> memory in MiB.
FARGATE_SIZES: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})

# Options the awslogs driver cannot start without; Fargate also wants a prefix.
AWSLOGS_OPTIONS = ("awslogs-group", "awslogs-region")
AWSLOGS_FARGATE_OPTIONS = ("awslogs-stream-prefix",)

# botocore's report names its problems in prose; each becomes a finding code.
_BOTOCORE_CODES = {
    "missing required field": "missing-field",
    "unknown field": "unknown-field",
    "invalid type": "wrong-type",
    "invalid range": "out-of-range",
    "invalid length": "too-short",
    "invalid type for document": "wrong-type",
    "unable to encode to json": "wrong-type",
    "more than one input": "one-of",
    "empty input": "one-of",
}

_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_CPU_UNITS = {"": 1, "vcpu": 1024, "cpu": 1}
_MEMORY_UNITS = {"": 1, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024}


@dataclass(frozen=True, slots=True)
class Place:
    """Where findings about one definition point: the unit and its file."""

    unit: str
    file: str | None

    def finding(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Finding:
        return Finding(
            severity=severity,
            message=message,
            unit=self.unit,
            file=self.file,
            field=field,
            hint=hint,
            code=code,
        )


# The model --------------------------------------------------------------------


@functools.cache
def _ecs_shapes() -> tuple[StructureShape, StructureShape, StructureShape, StructureShape]:
    """RegisterTaskDefinition and CreateService inputs, and their describe outputs."""
    model = botocore.session.get_session().get_service_model("ecs")
    register = model.operation_model("RegisterTaskDefinition").input_shape
    create = model.operation_model("CreateService").input_shape
    described_task = model.shape_for("TaskDefinition")
    described_service = model.shape_for("Service")
    assert register is not None
    assert create is not None
    assert isinstance(described_task, StructureShape)
    assert isinstance(described_service, StructureShape)
    return register, create, described_task, described_service


@functools.cache
def other_network_modes() -> frozenset[str]:
    """The network modes the model knows besides awsvpc (bridge, host, none)."""
    mode = _ecs_shapes()[0].members["networkMode"]
    return frozenset(mode.metadata.get("enum", [])) - {"awsvpc"}


def _output_only(described: StructureShape, accepted: StructureShape) -> frozenset[str]:
    """Members ECS reports for a resource but does not take when creating it."""
    return frozenset(described.members) - frozenset(accepted.members)


# Field paths ------------------------------------------------------------------


def readable_path(document: Any, tokens: Sequence[PathToken]) -> str:
    """``("containerDefinitions", 0, "image")`` -> ``containerDefinitions[app].image``.

    Items of :data:`NAMED_LISTS` are named by their ``name`` when it is present
    and unique; anything else keeps its index.
    """
    text = ""
    node: Any = document
    parent_key: str | None = None
    for token in tokens:
        if isinstance(token, int):
            label: str = str(token)
            if parent_key in NAMED_LISTS and isinstance(node, list):
                label = _item_label(node, token)
            text += f"[{label}]"
            node = node[token] if isinstance(node, list) and token < len(node) else None
            parent_key = None
        else:
            text += f".{token}" if text else token
            node = node.get(token) if isinstance(node, dict) else None
            parent_key = token
    return text


def _item_label(items: list[Any], index: int) -> str:
    if index >= len(items) or not isinstance(items[index], dict):
        return str(index)
    name = items[index].get("name")
    if not isinstance(name, str) or not name:
        return str(index)
    same = sum(1 for item in items if isinstance(item, dict) and item.get("name") == name)
    return name if same == 1 else str(index)


def _parse_botocore_name(document: Any, name: str) -> list[PathToken]:
    """Turn botocore's ``.a[0].b`` into tokens, rejoining map keys that hold dots."""
    raw: list[PathToken] = [
        key if key else int(index) for key, index in _TOKEN.findall(name.split(" (key:")[0])
    ]
    tokens: list[PathToken] = []
    node: Any = document
    i = 0
    while i < len(raw):
        token = raw[i]
        if isinstance(token, str) and isinstance(node, dict) and token not in node:
            # A dotted map key (a docker label such as ``com.example.team``).
            for j in range(i + 1, len(raw)):
                joined = ".".join(str(t) for t in raw[i : j + 1])
                if joined in node:
                    token, i = joined, j
                    break
        tokens.append(token)
        if isinstance(token, int):
            node = node[token] if isinstance(node, list) and token < len(node) else None
        else:
            node = node.get(token) if isinstance(node, dict) else None
        i += 1
    return tokens


def _closest(word: str, choices: Sequence[str]) -> str | None:
    """The valid name a user most likely meant, if any is close."""
    for choice in choices:
        if choice.lower() == word.lower():
            return choice
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


# Checks against the API model -------------------------------------------------


def check_against_model(
    document: JsonObject, shape: StructureShape, place: Place, operation: str
) -> list[Finding]:
    """Unknown fields, wrong types, missing members and bad enums, per botocore."""
    # botocore hands structured problems only through this attribute; its public
    # report is prose, and we need the parts to locate and explain each one.
    report: Any = ParamValidator().validate(document, shape)
    findings = [
        _botocore_finding(document, reason, name, detail, place, operation)
        for reason, name, detail in report._errors
    ]
    findings.extend(_check_enums_and_booleans(document, shape, [], document, place, operation))
    return findings


def _botocore_finding(
    document: JsonObject,
    reason: str,
    name: str,
    detail: dict[str, Any],
    place: Place,
    operation: str,
) -> Finding:
    tokens = _parse_botocore_name(document, name)
    code = _BOTOCORE_CODES.get(reason, "invalid")
    if reason == "unknown field":
        unknown = str(detail["unknown_param"])
        valid = [str(n) for n in detail["valid_names"]]
        field = readable_path(document, [*tokens, unknown])
        guess = _closest(unknown, valid)
        hint = f"did you mean {guess!r}?" if guess else "valid fields: " + ", ".join(valid)
        return place.finding(code, f"{operation} has no field {unknown!r}", field=field, hint=hint)
    if reason == "missing required field":
        required = str(detail["required_name"])
        field = readable_path(document, [*tokens, required])
        return place.finding(
            code, f"{required!r} is required by {operation}", field=field, hint=f"add {required!r}"
        )
    at = readable_path(document, tokens) or None
    if reason == "invalid type":
        value = detail.get("param")
        wanted = _type_words(detail.get("valid_types", []))
        return place.finding(
            code,
            f"{_shown(value)} is a {_json_type(value)}, {operation} wants {wanted}",
            field=at,
            hint=f"write it as {wanted}",
        )
    if reason in ("invalid range", "invalid length"):
        what = "value" if reason == "invalid range" else "length"
        return place.finding(
            code,
            f"{what} below the minimum of {detail.get('min_allowed')}",
            field=at,
            hint=f"use a {what} of at least {detail.get('min_allowed')}",
        )
    return place.finding(code, f"{operation} refuses this value ({reason})", field=at)


def _type_words(valid_types: Sequence[str]) -> str:
    words = {
        "<class 'str'>": "a string",
        "<class 'int'>": "an integer",
        "<class 'bool'>": "true or false",
        "<class 'dict'>": "an object",
        "<class 'list'>": "a list",
        "<class 'float'>": "a number",
    }
    named = [words[t] for t in valid_types if t in words]
    return " or ".join(dict.fromkeys(named)) or "another type"


def _shown(value: Any) -> str:
    """A value as the user wrote it in JSON, shortened to fit a message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _check_enums_and_booleans(
    value: Any,
    shape: Shape,
    tokens: list[PathToken],
    document: JsonObject,
    place: Place,
    operation: str,
) -> Iterator[Finding]:
    """Walk the value along its shape; report enum values and true/false as numbers.

    botocore checks neither: its enum lists are documentation to it, and Python
    counts ``True`` as an integer.
    """
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, member in shape.members.items():
            if key in value:
                yield from _check_enums_and_booleans(
                    value[key], member, [*tokens, key], document, place, operation
                )
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _check_enums_and_booleans(
                item, shape.member, [*tokens, index], document, place, operation
            )
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            yield from _check_enums_and_booleans(
                item, shape.value, [*tokens, key], document, place, operation
            )
    elif shape.type_name in ("integer", "long") and isinstance(value, bool):
        yield place.finding(
            "wrong-type",
            f"{_shown(value)} is a boolean, {operation} wants a number",
            field=readable_path(document, tokens),
            hint="write a number",
        )
    elif shape.type_name == "string" and isinstance(value, str):
        allowed: list[str] = list(shape.metadata.get("enum", []))
        if allowed and value not in allowed:
            guess = _closest(value, allowed)
            hint = f"did you mean {guess!r}?" if guess else None
            yield place.finding(
                "bad-enum",
                f"{_shown(value)} is not one of {', '.join(allowed)}",
                field=readable_path(document, tokens),
                hint=hint or "use one of the listed values",
            )


# Task definition semantics ----------------------------------------------------


def parse_task_size(value: Any, kind: str) -> int | None:
    """Task ``cpu`` in units or ``memory`` in MiB, from how AWS lets users write them.

    ``"256"``, ``"0.25 vCPU"``, ``"1 vcpu"``; ``"512"``, ``"1 GB"``, ``"2GB"``.
    None when it cannot be read.
    """
    units = _CPU_UNITS if kind == "cpu" else _MEMORY_UNITS
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    match = _SIZE.match(value)
    if not match or match.group(2).lower() not in units:
        return None
    amount = float(match.group(1)) * units[match.group(2).lower()]
    return int(amount) if amount.is_integer() else None


def _containers(task: JsonObject) -> list[tuple[str, JsonObject]]:
    """The container definitions with the path label each is known by."""
    items = task.get("containerDefinitions")
    if not isinstance(items, list):
        return []
    return [
        (_item_label(items, index), item)
        for index, item in enumerate(items)
        if isinstance(item, dict)
    ]


def _text(value: Any) -> str | None:
    """A string from the document, or None for anything else (a user's typo may be a list)."""
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_task_definition(
    task: JsonObject, place: Place, *, on_fargate: bool = False
) -> list[Finding]:
    """What ECS would refuse in a task definition that the model alone lets through.

    ``on_fargate`` says the service runs it on Fargate even if the definition
    does not say so itself.
    """
    findings: list[Finding] = []
    containers = _containers(task)
    compatibilities = task.get("requiresCompatibilities")
    fargate = on_fargate or (isinstance(compatibilities, list) and "FARGATE" in compatibilities)

    # Duplicate names first: every later message names containers by name.
    seen: set[str] = set()
    for label, container in containers:
        name = container.get("name")
        if isinstance(name, str) and name in seen:
            findings.append(
                place.finding(
                    "duplicate-container-name",
                    f"two containers are named {name!r}",
                    field=f"containerDefinitions[{label}].name",
                    hint="give every container its own name",
                )
            )
        if isinstance(name, str):
            seen.add(name)

    for label, container in containers:
        image = container.get("image")
        if not isinstance(image, str) or not image.strip():
            findings.append(
                place.finding(
                    "image-missing",
                    "the container has no image",
                    field=f"containerDefinitions[{label}].image",
                    hint="set image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                )
            )

    if containers and not any(c.get("essential", True) is not False for _, c in containers):
        findings.append(
            place.finding(
                "no-essential-container",
                "no container is essential, so ECS has nothing to keep the task alive by",
                field="containerDefinitions",
                hint="mark the main container essential: true (the default)",
            )
        )

    findings.extend(_check_task_sizes(task, containers, place, fargate=fargate))
    findings.extend(_check_network_mode(task, place, fargate=fargate))
    findings.extend(_check_dependencies(containers, place))
    findings.extend(_check_containers(task, containers, place, fargate=fargate))
    return findings


def _check_task_sizes(
    task: JsonObject, containers: list[tuple[str, JsonObject]], place: Place, *, fargate: bool
) -> Iterator[Finding]:
    sizes: dict[str, int | None] = {}
    for kind in ("cpu", "memory"):
        written = task.get(kind)
        sizes[kind] = None if written is None else parse_task_size(written, kind)
        if written is not None and sizes[kind] is None:
            example = '"256" or "0.25 vCPU"' if kind == "cpu" else '"512" or "1 GB"'
            yield place.finding(
                "task-size-unreadable",
                f"task {kind} {_shown(written)} is not a size ECS understands",
                field=kind,
                hint=f"write it as {example}",
            )
    task_cpu, task_memory = sizes["cpu"], sizes["memory"]

    # Container cpu shares come out of the task's.
    cpu_sum = sum(_int(c.get("cpu")) or 0 for _, c in containers)
    if task_cpu is not None and cpu_sum > task_cpu:
        yield place.finding(
            "container-cpu-over-task",
            f"containers ask for {cpu_sum} cpu units in total, the task has {task_cpu}",
            field="containerDefinitions[*].cpu",
            hint="lower the containers' cpu or raise the task's",
        )

    # What a container reserves is its soft limit, else its hard limit.
    reserved = 0
    for label, container in containers:
        hard = _int(container.get("memory"))
        soft = _int(container.get("memoryReservation"))
        reserved += soft if soft is not None else (hard or 0)
        if hard is not None and soft is not None and soft > hard:
            yield place.finding(
                "memory-reservation-over-limit",
                f"memoryReservation {soft} is above the hard limit memory {hard}",
                field=f"containerDefinitions[{label}].memoryReservation",
                hint="keep memoryReservation below memory",
            )
        if task_memory is not None and hard is not None and hard > task_memory:
            yield place.finding(
                "container-memory-over-task",
                f"container memory {hard} MiB is above the task's {task_memory} MiB",
                field=f"containerDefinitions[{label}].memory",
                hint="lower the container's memory or raise the task's",
            )
        if task.get("memory") is None and hard is None and soft is None and not fargate:
            yield place.finding(
                "container-memory-missing",
                "neither the task nor the container sets memory",
                field=f"containerDefinitions[{label}].memoryReservation",
                hint="set the task's memory, or memory/memoryReservation on the container",
            )
    if task_memory is not None and reserved > task_memory:
        yield place.finding(
            "container-memory-over-task",
            f"containers reserve {reserved} MiB in total, the task has {task_memory} MiB",
            field="containerDefinitions[*].memoryReservation",
            hint="lower the containers' memoryReservation (or memory) or raise the task's",
        )

    if fargate:
        yield from _check_fargate_size(task, task_cpu, task_memory, place)


def _check_fargate_size(
    task: JsonObject, cpu: int | None, memory: int | None, place: Place
) -> Iterator[Finding]:
    for kind in ("cpu", "memory"):
        if task.get(kind) is None:
            yield place.finding(
                "fargate-size-missing",
                f"a Fargate task needs a task-level {kind}",
                field=kind,
                hint='set cpu and memory on the task, e.g. "cpu": "512", "memory": "1024"',
            )
    if cpu is None or memory is None:
        return
    allowed = FARGATE_SIZES.get(cpu)
    if allowed is None:
        yield place.finding(
            "fargate-size-invalid",
            f"Fargate has no task size with {cpu} cpu units",
            field="cpu",
            hint="use one of " + ", ".join(str(c) for c in FARGATE_SIZES),
        )
        return
    if memory not in allowed:
        if len(allowed) <= 4:
            choices = ", ".join(str(m) for m in allowed)
        else:
            step = allowed[1] - allowed[0]
            choices = f"{allowed[0]} to {allowed[-1]} in steps of {step}"
        yield place.finding(
            "fargate-size-invalid",
            f"Fargate does not offer {memory} MiB with {cpu} cpu units",
            field="memory",
            hint=f"with cpu {cpu}, memory (MiB) is {choices}",
        )


def _check_network_mode(task: JsonObject, place: Place, *, fargate: bool) -> Iterator[Finding]:
    mode = _text(task.get("networkMode"))
    # A mode that is no mode at all is already a bad-enum error.
    if fargate and mode != "awsvpc" and (mode is None or mode in other_network_modes()):
        shown = "no network mode (bridge)" if mode is None else f"network mode {mode}"
        yield place.finding(
            "fargate-network-mode",
            f"Fargate runs tasks only in awsvpc mode, this one has {shown}",
            field="networkMode",
            hint='set "networkMode": "awsvpc"',
        )


def _check_dependencies(
    containers: list[tuple[str, JsonObject]], place: Place
) -> Iterator[Finding]:
    by_name = {_text(c.get("name")): c for _, c in containers}
    for label, container in containers:
        depends = container.get("dependsOn")
        if not isinstance(depends, list):
            continue
        for index, dependency in enumerate(depends):
            if not isinstance(dependency, dict):
                continue
            other = _text(dependency.get("containerName"))
            at = f"containerDefinitions[{label}].dependsOn[{index}]"
            if other is not None and other not in by_name:
                yield place.finding(
                    "depends-on-unknown-container",
                    f"depends on container {other!r}, which the task does not define",
                    field=f"{at}.containerName",
                    hint="name one of " + ", ".join(sorted(str(n) for n in by_name if n)),
                )
            elif (
                other is not None
                and dependency.get("condition") == "HEALTHY"
                and not by_name[other].get("healthCheck")
            ):
                # The condition waits on a health check that never runs.
                yield place.finding(
                    "depends-on-unchecked-container",
                    f"waits for container {other!r} to be HEALTHY, but it has no health check",
                    field=f"{at}.condition",
                    hint=f"give {other!r} a healthCheck, or wait for START or COMPLETE",
                )


def _check_containers(
    task: JsonObject, containers: list[tuple[str, JsonObject]], place: Place, *, fargate: bool
) -> Iterator[Finding]:
    awsvpc = task.get("networkMode") == "awsvpc" or fargate
    for label, container in containers:
        at = f"containerDefinitions[{label}]"
        mappings = container.get("portMappings")
        for index, mapping in enumerate(mappings if isinstance(mappings, list) else []):
            if not isinstance(mapping, dict):
                continue
            host, port = _int(mapping.get("hostPort")), _int(mapping.get("containerPort"))
            if awsvpc and host not in (None, 0) and port is not None and host != port:
                yield place.finding(
                    "host-port-mismatch",
                    f"hostPort {host} differs from containerPort {port}; in awsvpc mode "
                    "the task owns its address, so they must match",
                    field=f"{at}.portMappings[{index}].hostPort",
                    hint=f"drop hostPort or set it to {port}",
                )
        yield from _check_awslogs(container, at, place, fargate=fargate)


def _check_awslogs(
    container: JsonObject, at: str, place: Place, *, fargate: bool
) -> Iterator[Finding]:
    log_config = container.get("logConfiguration")
    if not isinstance(log_config, dict) or log_config.get("logDriver") != "awslogs":
        return
    options = log_config.get("options")
    options = options if isinstance(options, dict) else {}
    needed = AWSLOGS_OPTIONS + (AWSLOGS_FARGATE_OPTIONS if fargate else ())
    for option in needed:
        if not options.get(option):
            yield place.finding(
                "awslogs-option-missing",
                f"the awslogs driver needs {option!r}"
                + (" on Fargate" if option in AWSLOGS_FARGATE_OPTIONS else ""),
                field=f"{at}.logConfiguration.options",
                hint=f"add {option!r} to the log configuration options",
            )


# Service semantics ------------------------------------------------------------


def runs_on_fargate(service: JsonObject) -> bool:
    """Whether the service asks for Fargate, by launch type or capacity providers."""
    if service.get("launchType") == "FARGATE":
        return True
    strategy = service.get("capacityProviderStrategy")
    return isinstance(strategy, list) and any(
        isinstance(item, dict) and _text(item.get("capacityProvider")) in FARGATE_PROVIDERS
        for item in strategy
    )


def check_service(service: JsonObject, task: JsonObject | None, place: Place) -> list[Finding]:
    """What ECS would refuse, or regret, in a service given its task definition."""
    findings: list[Finding] = []
    strategy = service.get("capacityProviderStrategy")

    if service.get("launchType") is not None and strategy:
        findings.append(
            place.finding(
                "launch-type-with-capacity-providers",
                "a service takes a launchType or a capacityProviderStrategy, not both",
                field="launchType",
                hint="drop launchType and keep the capacity provider strategy",
            )
        )
    if isinstance(strategy, list):
        findings.extend(_check_spot_only(strategy, place))
    if service.get("schedulingStrategy") == "DAEMON" and runs_on_fargate(service):
        findings.append(
            place.finding(
                "fargate-daemon",
                "Fargate does not run DAEMON services: there are no instances to place "
                "one task on each of",
                field="schedulingStrategy",
                hint="use REPLICA on Fargate, or run the daemon on EC2 capacity",
            )
        )
    if service.get("schedulingStrategy") == "DAEMON" and service.get("placementStrategy"):
        findings.append(
            place.finding(
                "daemon-placement-strategy",
                "ECS refuses placement strategies on a DAEMON service: it places one task "
                "on each instance",
                field="placementStrategy",
                hint="drop placementStrategy; placementConstraints may narrow the instances",
            )
        )
    if service.get("schedulingStrategy") == "DAEMON" and service.get("desiredCount") is not None:
        findings.append(
            place.finding(
                "daemon-desired-count",
                "a DAEMON service runs one task per instance: its desiredCount is not applied",
                field="desiredCount",
                hint="drop desiredCount from the DAEMON service",
                severity=Severity.WARNING,
            )
        )

    controller = service.get("deploymentController")
    if isinstance(controller, dict) and controller.get("type") == "EXTERNAL":
        findings.append(
            place.finding(
                "external-deployment-controller",
                "an EXTERNAL deployment controller is driven through task sets, which the "
                "reconciler does not manage: it could not roll this service out",
                field="deploymentController.type",
                hint="use ECS (rolling, blue/green, linear, canary) or CODE_DEPLOY, or leave "
                "this service out of the repository",
            )
        )

    if task is not None:
        findings.extend(_check_service_network(service, task, place))
        findings.extend(_check_load_balancers(service, task, place))
    return findings


def _check_spot_only(strategy: list[Any], place: Place) -> Iterator[Finding]:
    items = [item for item in strategy if isinstance(item, dict)]
    weight_on = defaultdict[str, int](int)
    fargate_base = 0
    for item in items:
        provider = str(item.get("capacityProvider"))
        weight_on[provider] += _int(item.get("weight")) or 0
        if provider == "FARGATE":
            fargate_base += _int(item.get("base")) or 0
    spot = weight_on.pop("FARGATE_SPOT", 0)
    if spot > 0 and not any(weight_on.values()) and fargate_base == 0:
        yield place.finding(
            "spot-without-base",
            "all weight is on FARGATE_SPOT with no FARGATE base: one Spot reclaim can stop "
            "every task at once",
            field="capacityProviderStrategy",
            hint='add {"capacityProvider": "FARGATE", "base": 1, "weight": 0}',
            severity=Severity.WARNING,
        )


def _check_service_network(
    service: JsonObject, task: JsonObject, place: Place
) -> Iterator[Finding]:
    network = service.get("networkConfiguration")
    awsvpc = isinstance(network, dict) and network.get("awsvpcConfiguration")
    if task.get("networkMode") == "awsvpc" and not awsvpc:
        yield place.finding(
            "network-configuration-missing",
            "the task uses awsvpc, so the service must say which subnets its tasks join",
            field="networkConfiguration.awsvpcConfiguration",
            hint="add networkConfiguration.awsvpcConfiguration with subnets and securityGroups",
        )
    elif network and _text(task.get("networkMode", "bridge")) in other_network_modes():
        yield place.finding(
            "network-configuration-unused",
            f"networkConfiguration is only for awsvpc tasks, the task uses "
            f"{task.get('networkMode', 'bridge')}",
            field="networkConfiguration",
            hint='drop networkConfiguration or set the task\'s "networkMode": "awsvpc"',
        )


def _check_load_balancers(service: JsonObject, task: JsonObject, place: Place) -> Iterator[Finding]:
    balancers = service.get("loadBalancers")
    if not isinstance(balancers, list):
        return
    by_name = {_text(c.get("name")): c for _, c in _containers(task)}
    for index, balancer in enumerate(balancers):
        if not isinstance(balancer, dict) or "containerName" not in balancer:
            continue
        name = balancer["containerName"]
        container = by_name.get(_text(name))
        if container is None:
            yield place.finding(
                "load-balancer-container-missing",
                f"the load balancer sends traffic to container {name!r}, which the task "
                "does not define",
                field=f"loadBalancers[{index}].containerName",
                hint="name one of " + ", ".join(sorted(str(n) for n in by_name if n)),
            )
            continue
        port = balancer.get("containerPort")
        mappings = container.get("portMappings")
        mappings = mappings if isinstance(mappings, list) else []
        ports = [m.get("containerPort") for m in mappings if isinstance(m, dict)]
        if port is not None and port not in ports:
            shown = ", ".join(str(p) for p in ports) or "none"
            yield place.finding(
                "load-balancer-port-missing",
                f"container {name!r} maps no port {port} (its ports: {shown})",
                field=f"loadBalancers[{index}].containerPort",
                hint=f"add a portMapping for {port} to {name!r} or fix containerPort",
            )


# Units ------------------------------------------------------------------------


def definition_file(unit: DesiredUnit, written: str | None) -> str | None:
    """The repo path of a definition file named in the unit's config.

    Rendering records it as read (a repo path, listed in ``unit.files``); a
    name relative to the unit folder, as ecspresso.yml spells it, works too.
    """
    if written is None or written in unit.files:
        return written
    return posixpath.normpath(posixpath.join(unit.path, written))


def config_file(unit: DesiredUnit) -> str | None:
    """The unit's ecspresso config file, as rendering recorded it."""
    for path in unit.files:
        if posixpath.basename(path).startswith("ecspresso."):
            return path
    return unit.files[0] if unit.files else None


def validate_unit(unit: DesiredUnit) -> list[Finding]:
    """Every check on one rendered unit: model shapes first, then semantics."""
    register, create, described_task, described_service = _ecs_shapes()
    task_place = Place(unit.id, definition_file(unit, unit.config.task_definition))
    service_place = Place(unit.id, definition_file(unit, unit.config.service_definition))
    findings: list[Finding] = []
    task, service = unit.task_definition, unit.service

    if task is not None:
        task = _drop_output_only(
            task,
            _output_only(described_task, register),
            task_place,
            findings,
            "RegisterTaskDefinition",
        )
        findings.extend(check_against_model(task, register, task_place, "RegisterTaskDefinition"))
        fargate = service is not None and runs_on_fargate(service)
        findings.extend(check_task_definition(task, task_place, on_fargate=fargate))

    if service is not None:
        service = _drop_output_only(
            service,
            _output_only(described_service, create),
            service_place,
            findings,
            "CreateService",
        )
        # ecspresso supplies these from ecspresso.yml and the registered task
        # definition; the file need not carry them.
        request = {
            "serviceName": unit.config.service or unit.id,
            "cluster": unit.config.cluster,
            "taskDefinition": "family:1",
            **service,
        }
        findings.extend(check_against_model(request, create, service_place, "CreateService"))
        findings.extend(check_service(service, task, service_place))
    return findings


def _drop_output_only(
    document: JsonObject,
    output_only: frozenset[str],
    place: Place,
    findings: list[Finding],
    operation: str,
) -> JsonObject:
    """Warn about fields ECS only reports, and leave them out of the model check.

    ecspresso ignores them too, so a definition exported from a live resource
    keeps working; they do nothing, which a user may not expect.
    """
    for key in sorted(output_only & document.keys()):
        findings.append(
            place.finding(
                "output-only-field",
                f"{key!r} is reported by ECS but not taken by {operation}; it is ignored",
                field=key,
                hint=f"remove {key!r} from the file",
                severity=Severity.WARNING,
            )
        )
    return {k: v for k, v in document.items() if k not in output_only}


def _cluster_name(cluster: str) -> str:
    """``arn:aws:ecs:...:cluster/prod`` and ``prod`` name the same cluster."""
    return cluster.rsplit("cluster/", 1)[-1] if cluster.startswith("arn:") else cluster


def check_service_claims(units: Sequence[DesiredUnit]) -> list[Finding]:
    """The same (region, cluster, service) claimed by more than one unit.

    Both units would deploy over each other; each gets an error naming the other.
    """
    claims: dict[tuple[str, str, str], list[DesiredUnit]] = defaultdict(list)
    for unit in units:
        if unit.service is not None and unit.config.service:
            key = (unit.config.region, _cluster_name(unit.config.cluster), unit.config.service)
            claims[key].append(unit)
    findings: list[Finding] = []
    for (region, cluster, service), claimants in claims.items():
        if len(claimants) < 2:
            continue
        for unit in claimants:
            others = ", ".join(u.id for u in claimants if u is not unit)
            findings.append(
                Finding(
                    severity=Severity.ERROR,
                    message=f"service {service} in cluster {cluster} ({region}) is also "
                    f"claimed by unit {others}",
                    unit=unit.id,
                    file=config_file(unit),
                    field="service",
                    hint="keep one unit per service: remove or rename one of them",
                    code="service-claimed-twice",
                )
            )
    return findings


def validate_units(units: Sequence[DesiredUnit]) -> dict[str, list[Finding]]:
    """Findings per unit id for every unit, including claims across units."""
    findings = {unit.id: validate_unit(unit) for unit in units}
    for finding in check_service_claims(units):
        findings[str(finding.unit)].append(finding)
    return findings
