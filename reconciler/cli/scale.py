"""``reconciler scale UNIT``: commit a new desired count, or auto scaling bounds.

``--tasks N`` changes ``desiredCount`` where the unit writes it: a literal in
a JSON service definition (added when the definition leaves it out), a plain
number in Jsonnet, or the committed variable it is templated from when that
variable moves nothing else. A count that auto scaling owns is refused (change
``--min``/``--max`` instead, which commit ``autoscaling`` in the unit's
``reconciler.yml``); a count read from the reconciler's environment, or
computed, is refused with what to change.

``--live`` changes only ECS (UpdateService) and commits nothing: drift is
reported until git agrees.

Exit 0 when committed (or already so), 1 when refused, 64 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from reconciler.aws import AwsTarget
from reconciler.cli.committing import (
    COMMITTED,
    ENV_FILE,
    ENVIRONMENT,
    Outcome,
    UnitEditor,
    changed_paths,
    message_for,
    open_aws,
    print_outcome,
    run_edit,
)
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.desired import render_units
from reconciler.errors import ReconcilerError, UsageError
from reconciler.model import DesiredUnit
from reconciler.source import SourceError, open_repo_files
from reconciler.source.commits import WorkingCopyError
from reconciler.source.edits import (
    EditRefused,
    FileEdit,
    insert_member,
    read_templated_json,
    replace_jsonnet_number,
    replace_value,
    set_policy_values,
)

COUNT_PROBE = 918273
"""A count no unit asks for, set on a variable to see if desiredCount follows it."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scale",
        help="commit a new desired count (or auto scaling min/max) for a unit",
        description="Change a unit's desiredCount, or its autoscaling min/max, in the "
        "working copy and commit it. --live changes only ECS.",
    )
    parser.add_argument("unit", metavar="UNIT", help="the unit id")
    parser.add_argument("--tasks", type=_count, metavar="N", help="the desired count")
    parser.add_argument("--min", type=_count, metavar="N", help="auto scaling minimum")
    parser.add_argument("--max", type=_count, metavar="N", help="auto scaling maximum")
    parser.add_argument("--repo", default=".", help="working copy folder (default: .)")
    parser.add_argument("--message", "-m", help="why: the body of the commit message")
    parser.add_argument(
        "--author",
        help="'Name <email>' (default: $RECONCILER_GIT_AUTHOR, then git's user.name/user.email)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="change only ECS (an emergency): drift is reported until git agrees",
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative")
    return number


def run(args: argparse.Namespace) -> int:
    bounds = args.min is not None or args.max is not None
    if (args.tasks is None) == (not bounds):
        raise UsageError("give either --tasks N, or --min and/or --max")
    if args.live and bounds:
        raise UsageError("--live changes the desired count only; use --tasks with it")
    try:
        if args.live:
            return _run_live(args)
        outcome = run_edit(args.repo, lambda editor: _scale(editor, args))
    except (EditRefused, WorkingCopyError) as exc:
        print(f"reconciler scale: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_outcome(outcome, args.output, _summary(outcome))
    return EXIT_OK


def _summary(outcome: Outcome) -> str:
    where = f" ({outcome.file}" + (f", variable {outcome.variable})" if outcome.variable else ")")
    before = "none" if outcome.before is None else outcome.before
    what = f"{outcome.unit} {outcome.field} {before} -> {outcome.after}{where}"
    if outcome.commit is None:
        return f"nothing to commit: {outcome.unit} {outcome.field} is already {outcome.after}"
    return f"committed {outcome.commit.revision[:12]} on {outcome.commit.branch}: {what}"


async def _scale(editor: UnitEditor, args: argparse.Namespace) -> Outcome:
    unit = await editor.render(args.unit)
    if unit.service is None:
        raise UsageError(f"unit {unit.id} is a task definition alone, with no service to scale")
    if args.tasks is None:
        return await _commit_bounds(editor, unit, args)
    if unit.policy.autoscaling is not None:
        scaling = unit.policy.autoscaling
        raise EditRefused(
            f"auto scaling owns the desired count of unit {unit.id} (autoscaling min "
            f"{scaling.min}, max {scaling.max}); change those instead: "
            f"reconciler scale {unit.id} --min N --max N"
        )

    current = unit.service.get("desiredCount")
    if current == args.tasks:
        return Outcome(unit.id, "desiredCount", current, args.tasks, unit.config.service_definition)
    edit, variable = await _count_edit(editor, unit, current, args.tasks)

    # Render the edit: the count must come out as asked, and nothing else move.
    after = await editor.render(unit.id, {edit.path: edit.content})
    if after.service is None or after.service.get("desiredCount") != args.tasks:
        raise EditRefused(
            f"editing {edit.path} did not set the desired count of unit {unit.id} to "
            f"{args.tasks}; edit it by hand"
        )
    others = [p for p in changed_paths(unit, after) if p != "service.desiredCount"]
    if others:
        cause = f"the variable {variable}" if variable else edit.path
        raise EditRefused(
            f"changing {cause} would also change {', '.join(others)} of unit {unit.id}; "
            "change the count by hand"
        )

    subject = f"{unit.id}: scale to {args.tasks} tasks (was {_shown(current)})"
    message = message_for(
        subject,
        args.message,
        {
            "Unit": unit.id,
            "Field": "desiredCount",
            "Changed": f"{_shown(current)} -> {args.tasks}",
            "File": edit.path,
            "Variable": variable,
            "Changed-By": "reconciler scale",
        },
    )
    commit = editor.copy.commit([edit], message, editor.copy.identity(args.author))
    return Outcome(
        unit.id, "desiredCount", current, args.tasks, edit.path, variable=variable, commit=commit
    )


async def _count_edit(
    editor: UnitEditor, unit: DesiredUnit, current: Any, tasks: int
) -> tuple[FileEdit, str | None]:
    """The edit that sets the count, and the variable it goes through (if one)."""
    path = unit.config.service_definition
    assert path is not None
    text = editor.text(path)
    if text is None:
        raise EditRefused(f"{path} is not committed; commit the unit first")
    refusal: EditRefused
    if path.endswith((".jsonnet", ".libsonnet")):
        if current is None:
            raise EditRefused(f"{path} leaves desiredCount out; add it to the Jsonnet by hand")
        try:
            edited = replace_jsonnet_number(text, "desiredCount", current, tasks, file=path)
            return FileEdit(path, edited.encode("utf-8")), None
        except EditRefused as exc:
            refusal = exc
    else:
        document = read_templated_json(text, file=path)
        member = document.member("desiredCount")
        if member is None and current is None and document.kind == "object":
            edited = insert_member(text, document, "desiredCount", tasks)
            return FileEdit(path, edited.encode("utf-8")), None
        if member is not None and member.kind == "number":
            return FileEdit(path, replace_value(text, member, tasks).encode("utf-8")), None
        written = member.source(text) if member is not None else "not a literal"
        refusal = EditRefused(
            f"desiredCount in {path} is {written}, which cannot be edited safely; edit it by hand"
        )

    # Templated or computed: from a variable, perhaps.
    found = await editor.find_variable(
        unit, lambda u: (u.service or {}).get("desiredCount"), str(COUNT_PROBE), str(current)
    )
    if found is None:
        raise refusal
    variable, _ = found
    if variable.kind == ENVIRONMENT:
        raise EditRefused(
            f"the desired count of unit {unit.id} comes from the variable {variable.name}, "
            "read from the reconciler's environment and not from git: change "
            f"{variable.name} there, or commit it in {unit.path}/reconciler.yml vars"
        )
    if variable.kind not in (COMMITTED, ENV_FILE):
        raise EditRefused(
            f"the desired count of unit {unit.id} comes from the variable {variable.name}, "
            f"set for every unit in {variable.file}: change {variable.name} there, or "
            f"set it in {unit.path}/reconciler.yml vars for this unit alone"
        )
    return editor.variable_edit(variable, str(tasks)), variable.name


async def _commit_bounds(
    editor: UnitEditor, unit: DesiredUnit, args: argparse.Namespace
) -> Outcome:
    scaling = unit.policy.autoscaling
    if scaling is None and (args.min is None or args.max is None):
        raise UsageError(f"unit {unit.id} has no autoscaling yet: give both --min and --max")
    low = args.min if args.min is not None else scaling.min if scaling else 0
    high = args.max if args.max is not None else scaling.max if scaling else 0
    if low > high:
        raise UsageError(f"--min {low} is above --max {high}")
    before = f"{scaling.min}..{scaling.max}" if scaling else None
    if scaling is not None and (scaling.min, scaling.max) == (low, high):
        return Outcome(unit.id, "autoscaling", before, f"{low}..{high}", None)

    path = editor.policy_path(unit.path)
    values = {k: v for k, v in (("min", args.min), ("max", args.max)) if v is not None}
    edited = set_policy_values(editor.text(path), "autoscaling", values, file=path)
    edit = FileEdit(path, edited.encode("utf-8"))
    after = await editor.render(unit.id, {edit.path: edit.content})
    bounds = after.policy.autoscaling
    if bounds is None or (bounds.min, bounds.max) != (low, high):
        raise EditRefused(f"editing {path} did not set autoscaling to {low}..{high}")

    subject = f"{unit.id}: auto scale between {low} and {high} tasks"
    if scaling is not None:
        subject += f" (was {scaling.min} to {scaling.max})"
    message = message_for(
        subject,
        args.message,
        {
            "Unit": unit.id,
            "Field": "autoscaling",
            "Changed": f"{before or 'none'} -> {low}..{high}",
            "File": path,
            "Changed-By": "reconciler scale",
        },
    )
    commit = editor.copy.commit([edit], message, editor.copy.identity(args.author))
    return Outcome(unit.id, "autoscaling", before, f"{low}..{high}", path, commit=commit)


def _shown(count: Any) -> str:
    return "unset" if count is None else str(count)


def _run_live(args: argparse.Namespace) -> int:
    try:
        files = open_repo_files(args.repo)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    aws = open_aws()
    try:
        unit = asyncio.run(_scale_live(files, aws, args))
    except ReconcilerError as exc:
        if isinstance(exc, UsageError):
            raise
        print(f"reconciler scale: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        aws.close()
    config = unit.config
    line = (
        f"scaled {config.cluster}/{config.service} (unit {unit.id}) to {args.tasks} tasks "
        "in ECS only: drift will be reported until git agrees "
        f"(reconciler scale {unit.id} --tasks {args.tasks} commits it)"
    )
    if args.output == "json":
        print_outcome(
            Outcome(
                unit.id, "desiredCount", (unit.service or {}).get("desiredCount"), args.tasks, None
            ),
            "json",
            line,
        )
    else:
        print(line)
    if unit.policy.autoscaling is not None:
        scaling = unit.policy.autoscaling
        print(
            f"note: auto scaling owns this count (min {scaling.min}, max {scaling.max}) "
            "and may change it again",
            file=sys.stderr,
        )
    return EXIT_OK


async def _scale_live(files: Any, aws: Any, args: argparse.Namespace) -> DesiredUnit:
    results = await render_units(files, aws, [args.unit])
    result = results[0]
    if not result.ok or result.unit is None:
        problems = "; ".join(str(f) for f in result.findings)
        raise EditRefused(f"unit {args.unit} does not render: {problems}")
    unit = result.unit
    if unit.config.service is None:
        raise UsageError(f"unit {unit.id} is a task definition alone, with no service to scale")
    target = AwsTarget(unit.config.region, unit.policy.aws.role_arn, unit.policy.aws.external_id)
    await aws.call(
        "ecs",
        "update_service",
        target,
        cluster=unit.config.cluster,
        service=unit.config.service,
        desiredCount=args.tasks,
    )
    return unit
