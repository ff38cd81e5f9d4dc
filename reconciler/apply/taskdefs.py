"""Register a unit's task definition, or reuse the revision that already holds it.

Revisions carry their digest as the ``gitops:digest`` tag. Before registering,
the newest ACTIVE revisions of the family are searched for that digest, so a
git revert rolls back to the very revision that ran before, and a registration
whose UpdateService never happened (a crash) is not registered twice.
"""

from __future__ import annotations

import logging

from reconciler.apply.requests import register_task_definition_request, tag_value
from reconciler.aws import Aws, AwsTarget
from reconciler.errors import InvalidUnitError
from reconciler.model import TAG_DIGEST, DesiredUnit

log = logging.getLogger(__name__)

# Revisions searched for a digest, newest first: enough for a revert of the
# last few changes, bounded so a family with thousands of revisions stays cheap.
REUSE_LOOKBACK = 5


async def find_revision_by_digest(
    aws: Aws, target: AwsTarget, family: str, digest: str, lookback: int = REUSE_LOOKBACK
) -> str | None:
    """The newest ACTIVE revision of ``family`` tagged with ``digest``, if any."""
    listed = await aws.call(
        "ecs",
        "list_task_definitions",
        target,
        familyPrefix=family,
        status="ACTIVE",
        sort="DESC",
        maxResults=lookback,
    )
    wanted = tag_value(digest)
    for arn in listed.get("taskDefinitionArns", [])[:lookback]:
        # familyPrefix also matches longer family names; only this family counts.
        if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
            continue
        described = await aws.call(
            "ecs", "describe_task_definition", target, taskDefinition=arn, include=["TAGS"]
        )
        tags = {t["key"]: t.get("value", "") for t in described.get("tags", [])}
        if tags.get(TAG_DIGEST) == wanted:
            return str(arn)
    return None


async def register_or_reuse(
    aws: Aws, target: AwsTarget, unit: DesiredUnit, digest: str
) -> tuple[str, bool]:
    """The ARN of a revision holding the unit's task definition; True if registered."""
    request = register_task_definition_request(unit, digest)
    family = request.get("family")
    if not family:
        raise InvalidUnitError(
            "the task definition has no family; set one", unit=unit.id, field="family"
        )

    reused = await find_revision_by_digest(aws, target, str(family), digest)
    if reused is not None:
        log.info("task definition reused", extra={"unit": unit.id, "task_definition": reused})
        return reused, False

    response = await aws.call("ecs", "register_task_definition", target, **request)
    arn = str(response["taskDefinition"]["taskDefinitionArn"])
    log.info("task definition registered", extra={"unit": unit.id, "task_definition": arn})
    return arn, True
