"""docs/iam.md: the policies parse, name only real actions, and cover what the code calls.

An IAM action is named after the API operation it allows (`ecs:UpdateService`
allows `UpdateService`), and the action's prefix is the service's signing name
in botocore's model, so botocore can tell a misspelt or invented action from a
real one. A few actions guard no single operation; they are listed below.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.packaging.tools import REPO_ROOT

DOC = REPO_ROOT / "docs" / "iam.md"

# Permission-only actions: IAM checks them, but no API operation bears the name.
PERMISSION_ONLY = {
    "iam:PassRole": "checked when a task definition names a role",
    "sts:TagSession": "checked when EKS Pod Identity tags the session it assumes",
}

# The IAM prefixes the doc may use, with the botocore services behind each.
SERVICES_BY_PREFIX = {
    "ecs": ["ecs"],
    "application-autoscaling": ["application-autoscaling"],
    "codedeploy": ["codedeploy"],
    "elasticloadbalancing": ["elbv2", "elb"],
    "ssm": ["ssm"],
    "kms": ["kms"],
    "secretsmanager": ["secretsmanager"],
    "cloudformation": ["cloudformation"],
    "s3": ["s3"],
    "sts": ["sts"],
    "iam": ["iam"],
}

# How the reconciler's code calls AWS: Aws.call / Aws.paginate with literal names.
AWS_CALL = re.compile(r'\b_?(?:call|paginate)\(\s*"([a-z0-9-]+)",\s*"([a-z0-9_]+)"')


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # IAM keeps one of two equal keys silently; a doc that repeats one is wrong.
    keys = [key for key, _ in pairs]
    duplicates = {key for key in keys if keys.count(key) > 1}
    assert not duplicates, f"repeated keys in a policy object: {sorted(duplicates)}"
    return dict(pairs)


def read_policies() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [json.loads(block, object_pairs_hook=_no_duplicate_keys) for block in blocks]


def statements() -> Iterator[dict[str, Any]]:
    for policy in read_policies():
        yield from policy["Statement"]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@cache
def operations(prefix: str) -> frozenset[str]:
    session = botocore.session.get_session()
    names: set[str] = set()
    for service in SERVICES_BY_PREFIX[prefix]:
        model = session.get_service_model(service)
        assert model.signing_name == prefix, f"{service} signs as {model.signing_name}"
        names.update(model.operation_names)
    return frozenset(names)


def reconciler_policy() -> dict[str, Any]:
    # The first policy in the doc is the reconciler's own; the others trust it.
    return read_policies()[0]


def test_the_doc_holds_the_reconciler_policy_and_both_eks_trust_policies() -> None:
    policies = read_policies()

    assert len(policies) == 3
    assert all(policy["Version"] == "2012-10-17" for policy in policies)
    principals = [s.get("Principal") for p in policies[1:] for s in p["Statement"]]
    assert {"Service": "pods.eks.amazonaws.com"} in principals
    assert any("Federated" in (principal or {}) for principal in principals)


def _all_actions() -> list[str]:
    return sorted({action for statement in statements() for action in actions_of(statement)})


@pytest.mark.parametrize("action", _all_actions(), ids=str)
def test_every_action_names_a_real_operation(action: str) -> None:
    prefix, _, name = action.partition(":")
    assert prefix in SERVICES_BY_PREFIX, f"{action}: unknown service prefix {prefix!r}"
    if action in PERMISSION_ONLY:
        return

    matches = fnmatch.filter(operations(prefix), name)

    assert matches, f"{action}: no {prefix} operation is called {name}"


def test_every_statement_is_named_once_and_explained() -> None:
    text = DOC.read_text()
    sids = [statement["Sid"] for statement in statements()]

    assert len(sids) == len(set(sids)), "Sids repeat"
    for sid in (s["Sid"] for s in reconciler_policy()["Statement"]):
        assert f"**{sid}**" in text, f"{sid} has no explanation under the policy"


def test_pass_role_is_scoped_to_named_roles_and_to_ecs() -> None:
    passing = [s for s in statements() if "iam:PassRole" in actions_of(s)]

    assert passing
    for statement in passing:
        assert actions_of(statement) == ["iam:PassRole"], "PassRole shares a statement"
        resources = statement["Resource"]
        assert "*" not in ([resources] if isinstance(resources, str) else resources)
        passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        assert passed_to in {"ecs-tasks.amazonaws.com", "ecs.amazonaws.com"}
    assert any(
        s["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
        for s in passing
    )


def test_deleting_a_service_is_its_own_statement_limited_to_owned_services() -> None:
    deleting = [s for s in statements() if "ecs:DeleteService" in actions_of(s)]

    (statement,) = deleting
    assert actions_of(statement) == ["ecs:DeleteService"]
    assert statement["Condition"]["Null"] == {"aws:ResourceTag/gitops:owner": "false"}


def test_every_ecs_deployment_action_is_granted() -> None:
    granted = {a for s in reconciler_policy()["Statement"] for a in actions_of(s)}

    for operation in (
        "RegisterTaskDefinition", "CreateService", "UpdateService", "DeleteService",
        "TagResource", "UntagResource", "ListServiceDeployments",
        "DescribeServiceDeployments", "StopServiceDeployment",
    ):  # fmt: skip
        assert f"ecs:{operation}" in granted


def _calls_in_code() -> list[tuple[str, str, str]]:
    calls = set()
    for path in sorted((REPO_ROOT / "reconciler").rglob("*.py")):
        if "emulator" in path.relative_to(REPO_ROOT).parts:
            continue
        for match in AWS_CALL.finditer(path.read_text()):
            calls.add((match.group(1), match.group(2), str(path.relative_to(REPO_ROOT))))
    return sorted(calls)


def test_the_code_calls_aws_through_names_this_test_can_read() -> None:
    # Guards the scan below: if the call style changes, the scan must follow.
    services = {service for service, _, _ in _calls_in_code()}

    assert {"ecs", "application-autoscaling", "ssm"} <= services


@pytest.mark.parametrize(
    ("service", "method", "where"), _calls_in_code(), ids=lambda part: str(part)
)
def test_every_aws_call_in_the_code_is_allowed_by_the_policy(
    service: str, method: str, where: str
) -> None:
    model = botocore.session.get_session().get_service_model(service)
    operation = {xform_name(name): name for name in model.operation_names}[method]
    action = f"{model.signing_name}:{operation}"

    allowed = [
        s["Sid"]
        for s in reconciler_policy()["Statement"]
        if s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, pattern) for pattern in actions_of(s))
    ]

    assert allowed, f"{where} calls {action}, which docs/iam.md does not allow"


def test_the_kubernetes_guide_points_to_this_policy() -> None:
    kubernetes = (REPO_ROOT / "docs" / "kubernetes.md").read_text()

    assert "iam.md" in kubernetes
