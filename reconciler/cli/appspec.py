"""``reconciler appspec UNIT``: the AppSpec a CODE_DEPLOY unit is deployed with.

Prints the AppSpec (YAML) apply hands CodeDeploy: the task definition revision
that holds the unit's task definition (found by its digest; a placeholder when
none is registered yet, said on stderr), the container and port behind the
load balancer, platform version, network configuration, capacity provider
strategy and the hooks of ecspresso.yml's ``appspec:`` section. Touches nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from reconciler.apply import find_revision_by_digest, target_of
from reconciler.apply.codedeploy import (
    TASK_DEFINITION_PLACEHOLDER,
    appspec_document,
    appspec_text,
    is_code_deploy,
)
from reconciler.apply.requests import register_task_definition_request
from reconciler.aws import Aws, Sessions
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model import DesiredUnit
from reconciler.plan import desired_digest
from reconciler.source import SourceError, open_repo_files


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "appspec",
        help="print the CodeDeploy AppSpec of a CODE_DEPLOY unit",
        description="Render a unit and print the AppSpec (YAML) that apply deploys it with.",
    )
    parser.add_argument("unit", metavar="UNIT", help="unit id")
    parser.add_argument("--repo", default=".", help="repository folder (default: .)")
    parser.add_argument("--revision", help="read this git revision of --repo")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        files = open_repo_files(args.repo, args.revision)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    return asyncio.run(_print_appspec(files, args.unit))


async def _print_appspec(files: Any, unit_id: str) -> int:
    aws = Aws(Sessions(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
    try:
        (result,) = await render_units(files, aws, [unit_id])
        for finding in result.findings:
            print(finding, file=sys.stderr)
        if result.unit is None:
            return EXIT_FAILED
        unit = result.unit
        if unit.service is None:
            raise UsageError(f"unit {unit_id} has no service, so no AppSpec")
        if not is_code_deploy(unit):
            print(
                f"note: unit {unit_id} uses the ECS deployment controller; apply deploys it "
                "with UpdateService, not with this AppSpec",
                file=sys.stderr,
            )
        arn = await _task_definition_arn(aws, unit)
        try:
            text = appspec_text(appspec_document(unit, arn))
        except ReconcilerError as exc:
            print(f"reconciler appspec: {exc}", file=sys.stderr)
            return EXIT_FAILED
        sys.stdout.write(text)
        return EXIT_OK
    finally:
        aws.close()


async def _task_definition_arn(aws: Aws, unit: DesiredUnit) -> str:
    """The revision registered with the unit's digest, else the placeholder (said why)."""
    digest = desired_digest(unit)
    family = register_task_definition_request(unit, digest or "").get("family")
    if digest is None or not family:
        print("note: the unit has no task definition family; ", end="", file=sys.stderr)
    else:
        try:
            found = await find_revision_by_digest(aws, target_of(unit), str(family), digest)
        except ReconcilerError as exc:
            print(f"note: task definitions unreadable ({exc}); ", end="", file=sys.stderr)
        else:
            if found is not None:
                return found
            print(
                f"note: no ACTIVE revision of {family} holds this task definition yet; ",
                end="",
                file=sys.stderr,
            )
    print(
        f"{TASK_DEFINITION_PLACEHOLDER} stands for the revision apply will register",
        file=sys.stderr,
    )
    return TASK_DEFINITION_PLACEHOLDER
