"""Services this repository owns that no unit names any more.

An orphan is a service tagged ``gitops:owner`` with this repository and branch
whose ``gitops:unit`` is gone from git. It is reported; it is deleted only when
the unit, as it was at the revision last applied, said ``prune: true``, and
never when one revision drops many units at once (a broken checkout, an
emptied folder, a bad merge look like that).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.aws import Aws, AwsTarget
from reconciler.errors import ReconcilerError
from reconciler.model import TAG_OWNER, TAG_REVISION, TAG_UNIT

log = logging.getLogger(__name__)

SERVICES_PER_CALL = 10
PRUNE_LIMIT_FRACTION = 0.25
"""Above this share of the known units dropped at once, nothing is pruned."""


@dataclass(frozen=True, slots=True)
class Orphan:
    unit: str
    target: AwsTarget
    cluster: str
    service: str
    revision: str | None


async def find_orphans(
    aws: Aws, owner: str, clusters: Iterable[tuple[AwsTarget, str]], unit_ids: Iterable[str]
) -> list[Orphan]:
    """The services ``owner`` holds in ``clusters`` whose unit is not in ``unit_ids``."""
    known = set(unit_ids)
    orphans: list[Orphan] = []
    for target, cluster in sorted(set(clusters), key=lambda c: (str(c[0]), c[1])):
        try:
            arns = await aws.paginate(
                "ecs", "list_services", target, "serviceArns", cluster=cluster
            )
            for start in range(0, len(arns), SERVICES_PER_CALL):
                response = await aws.call(
                    "ecs",
                    "describe_services",
                    target,
                    cluster=cluster,
                    services=arns[start : start + SERVICES_PER_CALL],
                    include=["TAGS"],
                )
                for service in response.get("services", []):
                    tags = {t["key"]: t.get("value", "") for t in service.get("tags") or ()}
                    unit = tags.get(TAG_UNIT)
                    ours = tags.get(TAG_OWNER) == owner and service.get("status") == "ACTIVE"
                    if ours and unit and unit not in known:
                        name = str(service["serviceName"])
                        revision = tags.get(TAG_REVISION)
                        orphans.append(Orphan(unit, target, cluster, name, revision))
        except ReconcilerError as exc:
            # Orphans are looked for again on the next revision; units go on.
            log.warning("cannot look for orphans", extra={"cluster": cluster, "error": str(exc)})
    return orphans


def prune_allowed(orphans: Sequence[Orphan], known_units: int) -> bool:
    """Whether this many orphans at once may be pruned at all."""
    if not orphans:
        return False
    limit = max(1, int(known_units * PRUNE_LIMIT_FRACTION))
    return len(orphans) <= limit


async def delete_orphan(aws: Aws, orphan: Orphan) -> None:
    """Delete the service (its tasks drain), as ``prune: true`` asked."""
    await aws.call(
        "ecs",
        "delete_service",
        orphan.target,
        cluster=orphan.cluster,
        service=orphan.service,
        force=True,
    )
