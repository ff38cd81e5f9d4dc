"""Values templates look up outside the unit's own files.

SSM parameters, Secrets Manager ARNs, CloudFormation outputs and exports, and
Terraform state (a file in the repository or an object in S3): all through the
AWS layer, each asked once per render run however many units ask for it.

A lookup that fails raises :class:`LookupFailed` with a message that says
what to check; the caller places it at the template line that asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import AwsError, Reason
from reconciler.source import RepoFiles, confine_path

log = logging.getLogger(__name__)


class LookupFailed(Exception):
    """A lookup could not produce a value; the message says what to check."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Lookups:
    """Cached lookups for one render run, shared by every unit it renders."""

    def __init__(self, aws: Aws | None, files: RepoFiles) -> None:
        self._aws = aws
        self._files = files
        self._cache: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    async def _cached(self, key: tuple[Any, ...], fetch: Callable[[], Awaitable[Any]]) -> Any:
        # Concurrent units asking for the same value share one call.
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(fetch())
            self._cache[key] = future
        return await asyncio.shield(future)

    def _require_aws(self, service: str) -> Aws:
        if self._aws is None:
            raise LookupFailed(
                f"looking up with {service} needs AWS access, and none was given; "
                "run with credentials and a region (AWS_ENDPOINT_URL for the emulator)"
            )
        return self._aws

    async def _call(self, service: str, method: str, target: AwsTarget, **params: Any) -> Any:
        aws = self._require_aws(service)
        try:
            return await aws.call(service, method, target, **params)
        except AwsError as exc:
            hint = {
                Reason.AWS_NOT_FOUND: "check that it exists in that account and region",
                Reason.AWS_ACCESS_DENIED: "check the credentials and the unit's aws.role_arn",
            }.get(exc.reason, "check the name and try again")
            raise LookupFailed(f"{exc} ({target}); {hint}", transient=exc.transient) from exc

    async def ssm_parameter(self, target: AwsTarget, name: str) -> tuple[str, str]:
        """The value of an SSM parameter and its type (String, StringList, SecureString)."""

        async def fetch() -> tuple[str, str]:
            response = await self._call(
                "ssm", "get_parameter", target, Name=name, WithDecryption=True
            )
            parameter = response["Parameter"]
            return str(parameter["Value"]), str(parameter["Type"])

        result: tuple[str, str] = await self._cached(("ssm", target, name), fetch)
        return result

    async def secret_arn(self, target: AwsTarget, name: str) -> str:
        """The full ARN of a Secrets Manager secret, from its name or partial ARN."""

        async def fetch() -> str:
            response = await self._call("secretsmanager", "describe_secret", target, SecretId=name)
            return str(response["ARN"])

        result: str = await self._cached(("secretsmanager", target, name), fetch)
        return result

    async def stack_output(self, target: AwsTarget, stack: str, key: str) -> str:
        """An output of a CloudFormation stack."""

        async def fetch() -> dict[str, str]:
            response = await self._call(
                "cloudformation", "describe_stacks", target, StackName=stack
            )
            stacks = response.get("Stacks", [])
            if not stacks:
                raise LookupFailed(f"CloudFormation stack {stack!r} not found ({target})")
            outputs = stacks[0].get("Outputs", [])
            return {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs}

        outputs: dict[str, str] = await self._cached(("cfn_output", target, stack), fetch)
        if key not in outputs:
            known = ", ".join(sorted(outputs)) or "none"
            raise LookupFailed(f"stack {stack!r} has no output {key!r} (it has: {known})")
        return outputs[key]

    async def stack_export(self, target: AwsTarget, name: str) -> str:
        """A CloudFormation export by name."""

        async def fetch() -> dict[str, str]:
            aws = self._require_aws("cloudformation")
            try:
                exports = await aws.paginate("cloudformation", "list_exports", target, "Exports")
            except AwsError as exc:
                raise LookupFailed(f"{exc} ({target})", transient=exc.transient) from exc
            return {str(e["Name"]): str(e["Value"]) for e in exports}

        exports: dict[str, str] = await self._cached(("cfn_export", target), fetch)
        if name not in exports:
            raise LookupFailed(f"no CloudFormation export named {name!r} ({target})")
        return exports[name]

    async def terraform_state(self, target: AwsTarget, location: str) -> Any:
        """A Terraform state, parsed: ``location`` is a path from the repo root
        or an ``s3://bucket/key`` URL."""

        async def fetch() -> Any:
            if location.startswith("s3://"):
                bucket, _, key = location[len("s3://") :].partition("/")
                response = await self._call("s3", "get_object", target, Bucket=bucket, Key=key)
                body = await asyncio.to_thread(response["Body"].read)
            else:
                try:
                    body = self._files.read_bytes(confine_path(location))
                except FileNotFoundError as exc:
                    raise LookupFailed(
                        f"the Terraform state {location!r} is not in the repository; "
                        "commit it or point the tfstate plugin at s3://"
                    ) from exc
            try:
                return json.loads(body)
            except ValueError as exc:
                raise LookupFailed(f"the Terraform state {location!r} is not JSON: {exc}") from exc

        return await self._cached(("tfstate", target, location), fetch)


# Terraform state addresses: module.x["k"].data.aws_thing.name[0].attr.sub[1]

_ADDRESS_PART = re.compile(r"""\.?([A-Za-z0-9_\-]+)|\[\s*(\d+|'[^']*'|"[^"]*")\s*\]""")


def _address_parts(address: str) -> list[str | int]:
    parts: list[str | int] = []
    position = 0
    while position < len(address):
        match = _ADDRESS_PART.match(address, position)
        if match is None:
            raise LookupFailed(f"cannot read the Terraform address {address!r} at {position}")
        name, index = match.groups()
        if name is not None:
            parts.append(name)
        elif index.isdigit():
            parts.append(int(index))
        else:
            # Quoted keys are recorded as ("key",) to tell them from attribute names.
            parts.append(f"\0{index[1:-1]}")
        position = match.end()
    return parts


def _key(part: str | int) -> str | int:
    return part[1:] if isinstance(part, str) and part.startswith("\0") else part


def lookup_terraform_state(state: Any, address: str) -> Any:
    """The value at ``address`` in a Terraform (v4) state, as tfstate-lookup reads it."""
    parts = _address_parts(address)
    if not isinstance(state, dict):
        raise LookupFailed("the Terraform state is not a JSON object")
    if parts and parts[0] == "output":
        if len(parts) < 2:
            raise LookupFailed(f"{address!r} names no output")
        outputs = state.get("outputs", {})
        name = str(parts[1])
        if name not in outputs:
            raise LookupFailed(f"the Terraform state has no output {name!r}")
        return _descend(outputs[name].get("value"), parts[2:], address)

    module_path: list[str] = []
    while parts and parts[0] == "module" and len(parts) >= 2:
        module = f"module.{parts[1]}"
        parts = parts[2:]
        if parts and not (isinstance(parts[0], str) and not parts[0].startswith("\0")):
            key = _key(parts[0])
            module += f'["{key}"]' if isinstance(key, str) else f"[{key}]"
            parts = parts[1:]
        module_path.append(module)
    mode = "managed"
    if parts and parts[0] == "data":
        mode = "data"
        parts = parts[1:]
    if len(parts) < 2:
        raise LookupFailed(f"{address!r} is not a Terraform resource address (type.name.attr)")
    kind, name = str(parts[0]), str(parts[1])
    parts = parts[2:]
    index: str | int | None = None
    if parts and not (isinstance(parts[0], str) and not parts[0].startswith("\0")):
        index = _key(parts[0])
        parts = parts[1:]

    module_name = ".".join(module_path) or None
    for resource in state.get("resources", []):
        if (
            resource.get("module") == module_name
            and resource.get("mode", "managed") == mode
            and resource.get("type") == kind
            and resource.get("name") == name
        ):
            for instance in resource.get("instances", []):
                if instance.get("index_key") == index:
                    return _descend(instance.get("attributes", {}), parts, address)
            raise LookupFailed(f"{address!r}: no instance with index {index!r} in the state")
    raise LookupFailed(f"{address!r}: no such resource in the Terraform state")


def _descend(value: Any, parts: list[str | int], address: str) -> Any:
    for part in parts:
        key = _key(part)
        found_in_map = isinstance(value, dict) and isinstance(key, str) and key in value
        found_in_list = isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)
        if not (found_in_map or found_in_list):
            raise LookupFailed(f"{address!r}: nothing at {key!r} in the Terraform state")
        value = value[key]
    return value


def state_value_text(value: Any) -> str:
    """A state value as a template prints it: strings as is, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
