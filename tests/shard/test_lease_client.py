"""The Lease client against the fake API server: conditional writes, sorted errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import Reason
from reconciler.loop.leases import (
    KubeConfig,
    LeaseClient,
    LeaseConflict,
    LeaseRejected,
    LeaseUnavailable,
    kube_config_from_environment,
)
from tests.conftest import run_async
from tests.shard.fake_kube import FakeKube

SPEC = {"holderIdentity": "recon-0_a", "leaseDurationSeconds": 15}
LABELS = {"app.kubernetes.io/managed-by": "ecs-gitops-reconciler"}


def client_for(kube: FakeKube, token: str = "good", namespace: str | None = None) -> LeaseClient:
    return LeaseClient(
        KubeConfig(base_url=kube.endpoint, namespace=namespace or kube.namespace, token=token)
    )


def test_a_write_based_on_a_stale_read_is_refused_with_a_conflict() -> None:
    async def scenario() -> tuple[str | None, int]:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube)
            try:
                read = await leases.create("recon-shard-0", SPEC, LABELS)
                await leases.replace(read, {"holderIdentity": "recon-0_b"})
                with pytest.raises(LeaseConflict) as refused:
                    await leases.replace(read, {"holderIdentity": "recon-0_c"})
                assert refused.value.reason is Reason.LEASE_CONFLICT
                assert refused.value.transient
            finally:
                await leases.close()
            return kube.holder_of("recon-shard-0"), len(kube.conflicts())

    assert run_async(scenario()) == ("recon-0_b", 1)


def test_creating_a_lease_that_exists_is_a_conflict_and_changes_nothing() -> None:
    async def scenario() -> str | None:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube)
            try:
                await leases.create("recon-shard-0", SPEC, LABELS)
                with pytest.raises(LeaseConflict, match="already exists"):
                    await leases.create("recon-shard-0", {"holderIdentity": "intruder"}, LABELS)
            finally:
                await leases.close()
            return kube.holder_of("recon-shard-0")

    assert run_async(scenario()) == "recon-0_a"


def test_a_replace_keeps_the_fields_it_does_not_write() -> None:
    async def scenario() -> tuple[dict[str, object], dict[str, str]]:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube)
            try:
                read = await leases.create("recon-shard-0", SPEC, LABELS)
                kube.leases["recon-shard-0"]["metadata"]["annotations"] = {"team": "platform"}
                read = await leases.read("recon-shard-0") or read
                written = await leases.replace(read, {"renewTime": "2026-12-03T20:00:00.000000Z"})
            finally:
                await leases.close()
            return dict(written.body["spec"]), written.body["metadata"]["annotations"]

    spec, annotations = run_async(scenario())
    assert spec["holderIdentity"] == "recon-0_a"
    assert spec["renewTime"] == "2026-12-03T20:00:00.000000Z"
    assert annotations == {"team": "platform"}


def test_lists_only_the_leases_with_the_labels_asked_for() -> None:
    async def scenario() -> list[str]:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube)
            try:
                await leases.create("recon-shard-0", SPEC, LABELS)
                await leases.create("recon-shard-1", SPEC, LABELS)
                await leases.create("kube-scheduler", SPEC, {"tier": "control-plane"})
                return [lease.name for lease in await leases.list(LABELS)]
            finally:
                await leases.close()

    assert run_async(scenario()) == ["recon-shard-0", "recon-shard-1"]


def test_reading_a_lease_that_does_not_exist_gives_none() -> None:
    async def scenario() -> object:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube)
            try:
                return await leases.read("recon-shard-9")
            finally:
                await leases.close()

    assert run_async(scenario()) is None


@pytest.mark.parametrize(
    ("token", "namespace", "hint"),
    [
        ("tok-7f3a9c", None, "check the service account token"),
        ("good", "kube-system", "lets the service account manage leases"),
    ],
    ids=["unknown token", "namespace outside the Role"],
)
def test_a_refused_request_is_permanent_and_says_what_to_check(
    token: str, namespace: str | None, hint: str
) -> None:
    async def scenario() -> LeaseRejected:
        async with FakeKube(tokens=("good",)) as kube:
            leases = client_for(kube, token=token, namespace=namespace)
            try:
                with pytest.raises(LeaseRejected) as refused:
                    await leases.list(LABELS)
                return refused.value
            finally:
                await leases.close()

    refused = run_async(scenario())
    assert hint in str(refused)
    assert not refused.transient
    assert token not in str(refused)


def test_an_unreachable_api_server_is_transient() -> None:
    async def scenario() -> LeaseUnavailable:
        async with FakeKube(tokens=("good",)) as kube:
            endpoint = kube.endpoint
        leases = LeaseClient(KubeConfig(base_url=endpoint, namespace="reconciler", token="good"))
        try:
            with pytest.raises(LeaseUnavailable) as unavailable:
                await leases.read("recon-shard-0")
            return unavailable.value
        finally:
            await leases.close()

    assert run_async(scenario()).transient


def test_a_rotated_token_file_is_read_again_on_the_next_request(tmp_path: Path) -> None:
    token_file = tmp_path / "token"

    async def scenario() -> list[str]:
        async with FakeKube(tokens=("first", "second")) as kube:
            config = KubeConfig(
                base_url=kube.endpoint, namespace=kube.namespace, token_file=token_file
            )
            leases = LeaseClient(config)
            try:
                token_file.write_text("first\n")
                await leases.list(LABELS)
                token_file.write_text("second\n")
                await leases.list(LABELS)
            finally:
                await leases.close()
            return [call.token for call in kube.calls]

    assert run_async(scenario()) == ["first", "second"]


def test_in_a_pod_the_service_account_is_used(tmp_path: Path) -> None:
    (tmp_path / "namespace").write_text("gitops\n")
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    config = KubeConfig.in_cluster(environ, account=tmp_path)

    assert config.base_url == "https://10.96.0.1:443"
    assert config.namespace == "gitops"
    assert config.token_file == tmp_path / "token"
    assert config.ca_file == tmp_path / "ca.crt"


@pytest.mark.parametrize(
    ("environ", "base_url"),
    [
        ({}, None),
        (
            {"RECONCILER_KUBE_API": "http://127.0.0.1:8001/", "POD_NAMESPACE": "gitops"},
            "http://127.0.0.1:8001",
        ),
        (
            {"KUBERNETES_SERVICE_HOST": "fd00::1", "POD_NAMESPACE": "gitops"},
            "https://[fd00::1]:443",
        ),
    ],
    ids=["no Kubernetes", "an API server named explicitly", "in a pod on IPv6"],
)
def test_the_environment_decides_where_leases_are_held(
    environ: dict[str, str], base_url: str | None
) -> None:
    config = kube_config_from_environment(environ)

    assert (config.base_url if config else None) == base_url


def test_an_unreadable_service_account_says_to_mount_it(tmp_path: Path) -> None:
    config = KubeConfig(base_url="https://10.96.0.1", namespace="x", token_file=tmp_path / "no")

    with pytest.raises(LeaseRejected, match="automountServiceAccountToken"):
        config.bearer_token()


def test_the_fake_api_server_also_serves_from_a_thread_for_other_processes() -> None:
    async def create(endpoint: str) -> None:
        leases = LeaseClient(KubeConfig(base_url=endpoint, namespace="reconciler", token="good"))
        try:
            await leases.create("recon-shard-0", SPEC, LABELS)
        finally:
            await leases.close()

    with FakeKube(tokens=("good",)).serving_in_thread() as kube:
        run_async(create(kube.endpoint))
        holder = kube.holder_of("recon-shard-0")

    assert holder == "recon-0_a"
