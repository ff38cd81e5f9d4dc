"""``reconciler set-image UNIT CONTAINER IMAGE``: commit a new image, from CI.

The step a pipeline runs after pushing an image. Where the unit writes the
image decides what is committed:

- templated from a committed variable (``api:{{ must_env `IMAGE_TAG` }}`` with
  ``IMAGE_TAG`` in the unit's ``reconciler.yml`` ``vars`` or env file): the
  variable is set to the part of IMAGE the template leaves open. An IMAGE that
  does not fit the template's fixed part (another repository) is refused;
- a literal (a JSON string, or a Jsonnet string written once): replaced;
- anything else (a variable from the reconciler's environment or the repo-wide
  policy, a computed value): refused, saying why.

Scriptable: one line on stdout saying what was committed (``--output json``
for a document), exit 0 when committed or already so, 1 when refused, 64 on a
usage error (unknown unit or container).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.cli.committing import (
    COMMITTED,
    ENV_FILE,
    ENVIRONMENT,
    Outcome,
    UnitEditor,
    changed_paths,
    message_for,
    print_outcome,
    run_edit,
)
from reconciler.cli.main import EXIT_FAILED, EXIT_OK
from reconciler.errors import UsageError
from reconciler.model import DesiredUnit
from reconciler.source.commits import WorkingCopyError
from reconciler.source.edits import (
    EditRefused,
    FileEdit,
    definition_root,
    find_container,
    read_templated_json,
    replace_jsonnet_string,
    replace_value,
)

IMAGE_PROBE = "reconcilerprobe7319"
"""A value no image holds, set on a variable to see if the image follows it."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "set-image",
        help="commit a new image for a unit's container (the step CI runs)",
        description="Set the image of one container of a unit, in the committed variable "
        "it is templated from or as a literal, and commit it.",
    )
    parser.add_argument("unit", metavar="UNIT", help="the unit id")
    parser.add_argument("container", metavar="CONTAINER", help="the container's name")
    parser.add_argument("image", metavar="IMAGE", help="the new image, e.g. repo/api:1.5.0")
    parser.add_argument("--repo", default=".", help="working copy folder (default: .)")
    parser.add_argument("--message", "-m", help="why: the body of the commit message")
    parser.add_argument(
        "--author",
        help="'Name <email>' (default: $RECONCILER_GIT_AUTHOR, then git's user.name/email)",
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.image.strip() or any(c.isspace() for c in args.image):
        raise UsageError(f"{args.image!r} is not an image reference")
    try:
        outcome = run_edit(args.repo, lambda editor: _set_image(editor, args))
    except (EditRefused, WorkingCopyError) as exc:
        print(f"reconciler set-image: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print_outcome(outcome, args.output, _summary(outcome, args.container))
    return EXIT_OK


def _summary(outcome: Outcome, container: str) -> str:
    if outcome.commit is None:
        return f"nothing to commit: {outcome.unit} container {container} is already {outcome.after}"
    where = outcome.file or ""
    if outcome.variable:
        where = f"{outcome.variable} in {where}"
    return (
        f"committed {outcome.commit.revision[:12]} on {outcome.commit.branch}: {outcome.unit} "
        f"container {container} image {outcome.before} -> {outcome.after} ({where})"
    )


def _container_image(unit: DesiredUnit, name: str) -> Any:
    for container in (unit.task_definition or {}).get("containerDefinitions") or []:
        if isinstance(container, dict) and container.get("name") == name:
            return container.get("image")
    return None


async def _set_image(editor: UnitEditor, args: argparse.Namespace) -> Outcome:
    unit = await editor.render(args.unit)
    containers = [
        str(c.get("name"))
        for c in (unit.task_definition or {}).get("containerDefinitions") or []
        if isinstance(c, dict)
    ]
    if args.container not in containers:
        raise UsageError(
            f"unit {unit.id} has no container {args.container!r}; "
            f"its containers: {', '.join(containers) or 'none'}"
        )
    current = _container_image(unit, args.container)
    field = f"containerDefinitions[{args.container}].image"
    if current == args.image:
        return Outcome(unit.id, field, current, args.image, unit.config.task_definition)
    edit, variable = await _image_edit(editor, unit, args.container, str(current), args.image)

    # Render the edit: the container must come out with exactly that image.
    after = await editor.render(unit.id, {edit.path: edit.content})
    if _container_image(after, args.container) != args.image:
        raise EditRefused(
            f"editing {edit.path} did not give container {args.container} of unit {unit.id} "
            f"the image {args.image}; edit it by hand"
        )
    others = tuple(p for p in changed_paths(unit, after) if p != f"taskDefinition.{field}")

    message = message_for(
        f"{unit.id}: set {args.container} image to {args.image}",
        args.message,
        {
            "Unit": unit.id,
            "Container": args.container,
            "Changed": f"{current} -> {args.image}",
            "File": edit.path,
            "Variable": variable,
            "Also-Changed": ", ".join(others) or None,
            "Changed-By": "reconciler set-image",
        },
    )
    commit = editor.copy.commit([edit], message, editor.copy.identity(args.author))
    notes = (f"{variable} also sets {', '.join(others)}",) if others and variable else ()
    return Outcome(
        unit.id,
        field,
        current,
        args.image,
        edit.path,
        variable=variable,
        commit=commit,
        also_changed=others,
        notes=notes,
    )


async def _image_edit(
    editor: UnitEditor, unit: DesiredUnit, container: str, current: str, image: str
) -> tuple[FileEdit, str | None]:
    """The edit that sets the image, and the variable it goes through (if one)."""
    found = await editor.find_variable(
        unit, lambda u: _container_image(u, container), IMAGE_PROBE, current
    )
    if found is not None:
        variable, probed = found
        parts = str(probed).split(IMAGE_PROBE)
        template = f"{{{{{variable.name}}}}}".join(parts)
        if variable.kind == ENVIRONMENT:
            raise EditRefused(
                f"the image of container {container} of unit {unit.id} is {template!r}, and "
                f"{variable.name} is read from the reconciler's environment, not from git: "
                f"commit {variable.name} in {unit.path}/reconciler.yml vars first"
            )
        if variable.kind not in (COMMITTED, ENV_FILE):
            raise EditRefused(
                f"the image of container {container} of unit {unit.id} is {template!r}, and "
                f"{variable.name} is set for every unit in {variable.file}: set it in "
                f"{unit.path}/reconciler.yml vars to give unit {unit.id} its own"
            )
        if len(parts) != 2:
            raise EditRefused(
                f"the image of container {container} of unit {unit.id} is {template!r}: "
                f"{variable.name} appears more than once in it; edit it by hand"
            )
        prefix, suffix = parts
        fits = image.startswith(prefix) and image.endswith(suffix)
        if not fits or len(image) <= len(prefix) + len(suffix):
            raise EditRefused(
                f"{image} does not fit the image template {template!r} of container "
                f"{container} of unit {unit.id} (another repository?): set-image only "
                f"changes {variable.name}; change the template by hand to use another"
            )
        value = image[len(prefix) : len(image) - len(suffix)]
        return editor.variable_edit(variable, value), variable.name

    # Not from a variable: a literal, where one can be found.
    path = unit.config.task_definition
    assert path is not None
    text = editor.text(path)
    if text is None:
        raise EditRefused(f"{path} is not committed; commit the unit first")
    if path.endswith((".jsonnet", ".libsonnet")):
        edited = replace_jsonnet_string(text, current, image, file=path)
        return FileEdit(path, edited.encode("utf-8")), None
    document = definition_root(read_templated_json(text, file=path), "taskDefinition")
    written = find_container(document, container, text)
    member = written.member("image") if written is not None else None
    if member is None or member.kind != "string" or member.templated:
        shown = member.source(text) if member is not None else "not found"
        raise EditRefused(
            f"the image of container {container} in {path} is {shown}: neither a literal "
            "nor from a committed variable; edit it by hand"
        )
    return FileEdit(path, replace_value(text, member, image).encode("utf-8")), None
