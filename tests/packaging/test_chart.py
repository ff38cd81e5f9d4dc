"""The Helm chart: lint-clean, valid for Kubernetes, and saying what the daemon needs.

Every rendering is checked by `kubernetes-validate --strict` against the oldest
Kubernetes the chart supports and the newest the validator knows. It has no
schema for the Prometheus Operator's ServiceMonitor and only warns about it:
that one warning is expected by name (and only when the ServiceMonitor is
rendered), the ServiceMonitor is checked by the tests here instead, and any
other warning fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.tools import CHART, FULL_VALUES, describe, run_tool

RELEASE = "ecs"
NAMESPACE = "platform"
KUBERNETES_VERSIONS = ("1.28.0", "1.37.0")
VALUE_SETS = {"default values": [], "full values": ["-f", str(FULL_VALUES)]}
SERVICE_MONITOR_WARNING = re.compile(
    r"^WARN .*Couldn't find schema for kind ServiceMonitor with api version "
    r"monitoring\.coreos\.com/v1"
)
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def helm_template_text(*args: str) -> str:
    command = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args]
    result = run_tool("helm", *command)
    assert result.returncode == 0, describe(result)
    return result.stdout


def helm_template(*args: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(helm_template_text(*args)) if doc]


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def only(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (document,) = by_kind(documents, kind)
    return document


def container_of(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict_passes(values: list[str]) -> None:
    result = run_tool("helm", "lint", "--strict", str(CHART), *values)

    assert result.returncode == 0, describe(result)
    assert "[WARNING]" not in result.stdout, describe(result)
    assert "[ERROR]" not in result.stdout, describe(result)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: f"kubernetes {v}")
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rendered_manifests_pass_kubernetes_validate_strict(
    values: list[str], version: str
) -> None:
    manifests = helm_template_text(*values)
    kinds = [doc["kind"] for doc in yaml.safe_load_all(manifests) if doc]

    result = run_tool("kubernetes-validate", "--strict", "-k", version, "-", stdin=manifests)

    assert result.returncode == 0, describe(result)
    lines = (result.stdout + result.stderr).splitlines()
    passed = [line for line in lines if line.startswith("INFO") and " passed for resource " in line]
    expected_warnings = [line for line in lines if SERVICE_MONITOR_WARNING.match(line)]
    others = [line for line in lines if line not in passed and line not in expected_warnings]
    assert others == [], describe(result)
    assert len(passed) == len(kinds) - kinds.count("ServiceMonitor")
    assert len(expected_warnings) == kinds.count("ServiceMonitor")


def test_kubernetes_validate_strict_refuses_a_field_kubernetes_does_not_know() -> None:
    # The check above is only worth something if strict mode is on and working.
    documents = helm_template()
    container_of(documents)["restartPolicyy"] = "Always"
    manifests = yaml.safe_dump_all(documents)

    result = run_tool("kubernetes-validate", "--strict", "-", stdin=manifests)

    assert result.returncode != 0
    assert "restartPolicyy" in result.stdout + result.stderr


def test_the_chart_refuses_kubernetes_older_than_1_28_whose_pods_lack_their_index() -> None:
    result = run_tool("helm", "template", RELEASE, str(CHART), "--kube-version", "1.27.9")

    assert result.returncode != 0
    assert ">=1.28" in result.stderr


@pytest.mark.parametrize("replicas", [1, 3], ids=lambda n: f"{n} replicas")
def test_each_replica_is_a_shard_named_by_its_pod_index(replicas: int) -> None:
    documents = helm_template("--set", f"replicas={replicas}")

    statefulset = only(documents, "StatefulSet")
    container = container_of(documents)
    assert statefulset["spec"]["replicas"] == replicas
    assert f"--shard-count={replicas}" in container["args"]
    assert "--shard-index=$(SHARD_INDEX)" in container["args"]
    shard = env_of(container)["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert shard == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert statefulset["spec"]["serviceName"] == only_headless(documents)["metadata"]["name"]


def only_headless(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (headless,) = [s for s in by_kind(documents, "Service") if s["spec"].get("clusterIP") == "None"]
    return headless


def test_the_daemon_gets_its_flags_from_the_values() -> None:
    container = container_of(helm_template("-f", str(FULL_VALUES)))

    assert container["args"][:9] == [
        "--repo=git@github.com:example-org/ecs-services.git",
        "--branch=production",
        "--interval=1m",
        "--drift-interval=10m",
        "--data-dir=/data",
        "--status-provider=github",
        "--listen=0.0.0.0:8081",
        "--webhook-listen=0.0.0.0:9001",
        "--read-only",
    ]
    assert container["args"][-1] == "--verbose"
    assert container["image"].endswith("@sha256:" + "0123456789abcdef" * 4)


def test_default_values_leave_out_what_is_not_configured() -> None:
    container = container_of(helm_template())

    assert not [arg for arg in container["args"] if arg.startswith(("--repo", "--webhook"))]
    assert "--read-only" not in container["args"]
    assert set(env_of(container)) == {"SHARD_INDEX", "POD_NAME", "POD_NAMESPACE"}
    assert container["image"] == "ecs-gitops-reconciler:0.1.0"


def test_credentials_reach_the_container_from_existing_secrets() -> None:
    documents = helm_template("-f", str(FULL_VALUES))
    container = container_of(documents)
    env = env_of(container)

    def secret_of(name: str) -> tuple[str, str]:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        return ref["name"], ref["key"]

    assert secret_of("GIT_TOKEN") == ("ecs-gitops-git", "token")
    assert secret_of("STATUS_TOKEN") == ("ecs-gitops-github", "token")
    assert secret_of("WEBHOOK_SECRET") == ("ecs-gitops-webhook", "secret")
    assert env["AWS_REGION"]["value"] == "eu-west-1"

    # The ssh key is a file in a read-only mount of the git Secret.
    volumes = {
        v["name"]: v for v in only(documents, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    }
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    git = volumes["git-credentials"]["secret"]
    assert git["secretName"] == "ecs-gitops-git"
    items = {item["key"]: item["path"] for item in git["items"]}
    key_file = Path(env["GIT_SSH_KEY_FILE"]["value"])
    assert mounts["git-credentials"]["readOnly"] is True
    assert key_file.parent == Path(mounts["git-credentials"]["mountPath"])
    assert items["ssh-privatekey"] == key_file.name


def test_the_pod_runs_unprivileged_on_a_read_only_root_writing_to_two_empty_dirs() -> None:
    documents = helm_template()
    pod = only(documents, "StatefulSet")["spec"]["template"]["spec"]
    container = container_of(documents)

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts) == {"/data", "/tmp"}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    assert "--data-dir=/data" in container["args"]


def test_probes_ask_healthz_and_readyz_on_the_status_port() -> None:
    container = container_of(helm_template())

    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize(
    ("values", "annotations"),
    [
        ([], None),
        (
            ["--set", "aws.roleArn=arn:aws:iam::123456789012:role/gitops"],
            {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gitops"},
        ),
    ],
    ids=["pod identity needs no annotation", "irsa role annotated"],
)
def test_the_service_account_carries_the_irsa_role_when_given(
    values: list[str], annotations: dict[str, str] | None
) -> None:
    documents = helm_template(*values)

    account = only(documents, "ServiceAccount")
    assert account["metadata"].get("annotations") == annotations
    pod = only(documents, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_the_role_lets_the_pods_hold_leases_and_nothing_else() -> None:
    documents = helm_template()

    role = only(documents, "Role")
    assert [(r["apiGroups"], r["resources"]) for r in role["rules"]] == [
        (["coordination.k8s.io"], ["leases"])
    ]
    binding = only(documents, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": only(documents, "ServiceAccount")["metadata"]["name"],
            "namespace": NAMESPACE,
        }
    ]


def test_the_service_monitor_scrapes_metrics_once_per_pod() -> None:
    documents = helm_template("-f", str(FULL_VALUES))

    monitor = only(documents, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s
        for s in by_kind(documents, "Service")
        if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert len(selected) == 1, "both Services selected: every pod would be scraped twice"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in selected[0]["spec"]["ports"]}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_optional_objects_appear_only_when_asked_for() -> None:
    default_kinds = {doc["kind"] for doc in helm_template()}
    full_kinds = {doc["kind"] for doc in helm_template("-f", str(FULL_VALUES))}

    optional = {"ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"}
    assert not default_kinds & optional
    assert full_kinds - default_kinds == optional


def test_the_network_policy_opens_the_webhook_and_status_ports_to_their_peers() -> None:
    documents = helm_template("-f", str(FULL_VALUES))

    policy = only(documents, "NetworkPolicy")["spec"]
    rules = {rule["ports"][0]["port"]: rule for rule in policy["ingress"]}
    assert set(rules) == {"http", "webhook"}
    assert rules["webhook"]["from"] == [{"ipBlock": {"cidr": "192.30.252.0/22"}}]
    assert rules["http"]["from"][0]["namespaceSelector"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 443} <= egress_ports


def test_the_disruption_budget_selects_the_pods() -> None:
    documents = helm_template("-f", str(FULL_VALUES))

    budget = only(documents, "PodDisruptionBudget")["spec"]
    pod_labels = only(documents, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_object_carries_the_recommended_labels(values: list[str]) -> None:
    documents = helm_template(*values)

    for document in documents:
        labels = document["metadata"]["labels"]
        missing = [label for label in RECOMMENDED_LABELS if label not in labels]
        assert missing == [], f"{document['kind']} {document['metadata']['name']}"
    pod_labels = only(documents, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert all(label in pod_labels for label in RECOMMENDED_LABELS)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["--set", "replicass=2"], "additional properties 'replicass' not allowed"),
        (["--set", "repo.brnach=main"], "additional properties 'brnach' not allowed"),
        (["--set", "replicas=0"], "/replicas"),
        (["--set", "interval=30 seconds"], "/interval"),
        (["--set", "statusProvider.name=svn"], "/statusProvider/name"),
        (["--set", "statusProvider.name=github"], "/statusProvider/existingSecret"),
        (["--set", "webhook.enabled=true"], "/webhook/existingSecret"),
        (["--set", "aws.roleArn=my-role"], "/aws/roleArn"),
        (["--set", "repo.url=ftp://example.com/repo"], "/repo/url"),
    ],
    ids=[
        "misspelt top-level key",
        "misspelt nested key",
        "no replicas",
        "duration in words",
        "unknown status provider",
        "hosted status provider without a token",
        "webhook without a secret",
        "role name instead of an arn",
        "unsupported repository scheme",
    ],
)
def test_the_schema_refuses_values_that_would_not_work(values: list[str], complaint: str) -> None:
    result = run_tool("helm", "template", RELEASE, str(CHART), *values)

    assert result.returncode != 0
    assert complaint in result.stderr, describe(result)


def test_notes_say_how_to_reach_the_status_page() -> None:
    result = run_tool(
        "helm", "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
        "--set", "repo.url=https://git.example.com/platform/ecs.git",
    )  # fmt: skip

    assert result.returncode == 0, describe(result)
    notes = result.stdout.split("NOTES:", 1)[1]
    assert f"kubectl -n {NAMESPACE} port-forward pod/{RELEASE}-ecs-gitops-reconciler-0" in notes
    assert "http://127.0.0.1:8080/" in notes
    assert "WARNING" not in notes


def test_notes_warn_when_no_repository_is_set() -> None:
    result = run_tool("helm", "install", RELEASE, str(CHART), "--dry-run=client")

    assert result.returncode == 0, describe(result)
    assert "WARNING: repo.url is not set" in result.stdout.split("NOTES:", 1)[1]


def _guide_values(tmp_path: Path) -> Path:
    guide = (CHART.parent / "docs" / "kubernetes.md").read_text()
    (block,) = re.findall(r"```yaml\n(# values-prod\.yaml\n.*?)```", guide, flags=re.DOTALL)
    path = tmp_path / "values-prod.yaml"
    path.write_text(block)
    return path


def test_the_kubernetes_guide_uses_values_the_chart_takes_and_names_it_makes(
    tmp_path: Path,
) -> None:
    guide = (CHART.parent / "docs" / "kubernetes.md").read_text()
    command = ["template", "ecs-gitops-reconciler", str(CHART), "-n", "ecs-gitops"]
    result = run_tool("helm", *command, "-f", str(_guide_values(tmp_path)))
    assert result.returncode == 0, describe(result)
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    statefulset = only(documents, "StatefulSet")["metadata"]["name"]
    headless = only_headless(documents)["metadata"]["name"]
    assert f"port-forward pod/{statefulset}-0 8080:8080" in guide
    assert f"http://{statefulset}-N.{headless}.ecs-gitops.svc:8080/" in guide
    assert f"statefulset/{statefulset}" in guide
    assert only(documents, "ServiceAccount")["metadata"]["name"] == "ecs-gitops-reconciler"
