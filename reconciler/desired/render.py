"""Rendering units: from a repository's files to DesiredUnits.

Every unit is rendered on its own: one failure is reported as that unit's
findings and never hides the others. Lookups are shared by the whole run, so
a parameter many units read is fetched once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws import Aws, AwsTarget
from reconciler.desired.config import load_config
from reconciler.desired.definitions import load_service_definition, load_task_definition
from reconciler.desired.documents import walk_leaves
from reconciler.desired.functions import UnitFunctions, Variables
from reconciler.desired.jsonnet import EVALUATOR_THREADS
from reconciler.desired.lookups import Lookups
from reconciler.desired.policy import PolicyFile, merge_policy, read_policy_file
from reconciler.desired.problems import UnitError, finding_from_error
from reconciler.desired.reading import read_document
from reconciler.desired.render_cache import RenderCache, RenderReads, pass_key
from reconciler.desired.template import FunctionFailed
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model import DesiredUnit, Finding, RenderResult
from reconciler.source import RepoFiles, discover_units, find_config_file

log = logging.getLogger(__name__)

CONCURRENT_UNITS = EVALUATOR_THREADS
"""Units rendered at once: enough to overlap lookups; no more than Jsonnet has
threads, so a unit never waits for another unit's Jsonnet to finish."""

SHORT_SECRET = 6
"""Secrets shorter than this are matched as whole values only, never as parts."""


async def render_units(
    files: RepoFiles,
    aws: Aws | None,
    unit_ids: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cache: RenderCache | None = None,
) -> list[RenderResult]:
    """Render the units ``unit_ids`` (all of them by default), in id order.

    ``env`` is the reconciler's environment (``os.environ`` by default), read
    after the variables a unit commits. An unknown unit id is a UsageError.
    With ``cache``, a unit whose files are unchanged since it was last rendered
    is not rendered again (see :mod:`reconciler.desired.render_cache`).
    """
    known = cache.discover(files) if cache is not None else discover_units(files)
    if unit_ids:
        present = set(known)
        unknown = [u for u in unit_ids if u not in present]
        if unknown:
            raise UsageError(
                f"no unit {', '.join(repr(u) for u in unknown)} in the repository; "
                f"known units: {', '.join(known) or 'none'}"
            )
        selected = sorted(set(unit_ids))
    else:
        selected = known
    environment = dict(os.environ if env is None else env)
    lookups = Lookups(aws, files)
    try:
        repo_policy: PolicyFile | UnitError = read_policy_file(files, ".", unit="")
    except UnitError as exc:
        repo_policy = exc

    limit = asyncio.Semaphore(CONCURRENT_UNITS)
    key = pass_key(files) if cache is not None else None

    # What the cache holds is taken as it is; only the rest is rendered, concurrently.
    kept: dict[str, RenderResult] = {}
    if cache is not None and key is not None:
        for unit_id in selected:
            result = cache.get(files, unit_id, environment, key)
            if result is not None:
                kept[unit_id] = result

    async def render_one(unit_id: str) -> RenderResult:
        async with limit:
            result, reads = await _render_unit_reads(
                files, unit_id, repo_policy, lookups, environment
            )
        if cache is not None and key is not None and reads is not None:
            cache.put(files, result, reads, environment, key)
        return result

    missing = [u for u in selected if u not in kept]
    rendered = dict(zip(missing, await asyncio.gather(*map(render_one, missing)), strict=True))
    return [kept[u] if u in kept else rendered[u] for u in selected]


async def render_unit(
    files: RepoFiles,
    unit_id: str,
    repo_policy: PolicyFile | UnitError,
    lookups: Lookups,
    environment: Mapping[str, str],
) -> RenderResult:
    """One unit's RenderResult; every error becomes a finding of that unit."""
    result, _ = await _render_unit_reads(files, unit_id, repo_policy, lookups, environment)
    return result


async def _render_unit_reads(
    files: RepoFiles,
    unit_id: str,
    repo_policy: PolicyFile | UnitError,
    lookups: Lookups,
    environment: Mapping[str, str],
) -> tuple[RenderResult, RenderReads | None]:
    try:
        unit, warnings, reads = await _render(files, unit_id, repo_policy, lookups, environment)
    except UnitError as exc:
        exc.unit = exc.unit or unit_id
        finding = exc.to_finding()
        log.info("unit is invalid", extra={"unit": unit_id, "file": exc.file, "reason": exc.code})
        return RenderResult(unit_id, unit_id, None, (finding,)), None
    except ReconcilerError as exc:
        log.info("unit could not be rendered", extra={"unit": unit_id, "reason": exc.reason})
        return RenderResult(unit_id, unit_id, None, (finding_from_error(exc, unit_id),)), None
    log.debug(
        "unit rendered",
        extra={"unit": unit_id, "revision": files.revision, "warnings": len(warnings)},
    )
    return RenderResult(unit_id, unit_id, unit, warnings), reads


async def _render(
    files: RepoFiles,
    unit_id: str,
    repo_policy: PolicyFile | UnitError,
    lookups: Lookups,
    environment: Mapping[str, str],
) -> tuple[DesiredUnit, tuple[Finding, ...], RenderReads]:
    # The repo-wide policy applies to every unit: if it is broken, so is each unit.
    if isinstance(repo_policy, UnitError):
        raise UnitError(
            repo_policy.detail,
            unit=unit_id,
            file=repo_policy.file,
            line=repo_policy.line,
            field=repo_policy.field,
            hint=repo_policy.hint,
        )
    own_policy = (
        read_policy_file(files, unit_id, unit=unit_id) if unit_id != "." else PolicyFile(None)
    )
    policy, env_vars, policy_files = merge_policy(
        repo_policy, own_policy, unit=unit_id, unit_path=unit_id, files=files
    )
    # Committed variables first (vars over the env file), then the environment.
    variables = Variables({**env_vars, **policy.vars}, environment)

    config_path = find_config_file(files, unit_id)
    if config_path is None:
        raise UnitError("the unit has no ecspresso config", unit=unit_id, file=unit_id)
    loaded = await load_config(
        files, config_path, unit=unit_id, unit_path=unit_id, variables=variables
    )
    config = loaded.config
    target = AwsTarget(config.region, policy.aws.role_arn, policy.aws.external_id)
    functions = UnitFunctions(
        variables=variables,
        lookups=lookups,
        target=target,
        plugins=config.plugins,
        unit_path=unit_id,
    )
    try:
        template_functions = functions.template_functions()
    except FunctionFailed as exc:
        raise UnitError(
            str(exc), unit=unit_id, file=config_path, field="plugins", hint="fix the plugin config"
        ) from exc
    natives = functions.native_callbacks(asyncio.get_running_loop())

    async def read(path: str, what: str) -> tuple[Any, list[str]]:
        return await read_document(
            files,
            path,
            unit=unit_id,
            functions=template_functions,
            natives=natives,
            ext_vars=variables.committed,
            what=what,
        )

    assert config.task_definition is not None
    document, task_files = await read(config.task_definition, "task definition")
    task_definition, task_warnings = load_task_definition(
        document, unit=unit_id, file=config.task_definition
    )
    service = None
    service_warnings: tuple[Finding, ...] = ()
    service_files: list[str] = []
    if config.service_definition is not None:
        document, service_files = await read(config.service_definition, "service definition")
        service, service_warnings = load_service_definition(
            document, unit=unit_id, file=config.service_definition
        )

    secret_paths = secret_fields(task_definition, functions.secret_values) | secret_fields(
        service, functions.secret_values
    )
    warnings = (*loaded.warnings, *task_warnings, *service_warnings)
    read_files = dict.fromkeys(
        [*policy_files, *loaded.files, *task_files, *service_files, *functions.files_read]
    )
    unit = DesiredUnit(
        id=unit_id,
        revision=files.revision,
        path=unit_id,
        config=config,
        policy=policy,
        task_definition=task_definition,
        service=service,
        files=tuple(read_files),
        secret_paths=frozenset(secret_paths),
        unpinned_vars=frozenset(variables.unpinned),
        findings=warnings,
    )
    reads = RenderReads(unit.files, frozenset(variables.asked), functions.looked_up)
    return unit, warnings, reads


def secret_fields(definition: Any, secrets: set[str]) -> set[str]:
    """The field paths of ``definition`` whose values hold a secret looked up while
    rendering, named as the diff stage names its changes."""
    if not secrets or definition is None:
        return set()
    found: set[str] = set()
    for path, value in walk_leaves(definition):
        if not isinstance(value, str) or not value:
            continue
        if value in secrets or any(len(s) >= SHORT_SECRET and s in value for s in secrets):
            found.add(path)
    return found
