"""Kubernetes Lease objects (coordination.k8s.io/v1) over plain HTTP.

Only what shard ownership needs: list, read, create, replace and delete Leases
in one namespace. Every replace and delete carries the resourceVersion it was
read at, so the API server refuses a write based on a stale read with 409
Conflict; :class:`LeaseConflict` tells the caller to read again and decide
again. The token is sent, never logged.

Errors are sorted like the rest of the reconciler: a network error or a 5xx is
:class:`LeaseUnavailable` (transient), a refusal that will not change by
itself (401, 403, 404 on the namespace, 422) is :class:`LeaseRejected`.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from reconciler.errors import PermanentError, Reason, TransientError

log = logging.getLogger(__name__)

LEASES_API = "/apis/coordination.k8s.io/v1"

# Where the kubelet mounts a pod's service account: token, CA and namespace.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# Environment variables that point the reconciler at an API server explicitly,
# outside a cluster (tests, a developer's machine).
KUBE_API_ENV = "RECONCILER_KUBE_API"
KUBE_TOKEN_FILE_ENV = "RECONCILER_KUBE_TOKEN_FILE"
NAMESPACE_ENV = "POD_NAMESPACE"

REQUEST_TIMEOUT = 10.0

HINTS = {
    401: "check the service account token: it is missing, wrong or expired",
    403: "check that the chart's Role lets the service account manage leases",
    404: "check that the namespace exists",
    422: "the API server refused the Lease as sent",
}


class LeaseUnavailable(TransientError):
    """The API server could not be reached or answered with a 5xx."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.LEASE_UNAVAILABLE, message)


class LeaseRejected(PermanentError):
    """The API server refused the request; retrying it as it is will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.LEASE_REJECTED, message)


class LeaseConflict(TransientError):
    """The Lease changed since it was read (or already exists): read it again."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.LEASE_CONFLICT, message)


@dataclass(frozen=True, slots=True)
class KubeConfig:
    """How to reach the API server: base URL, bearer token and namespace.

    The token is read from ``token_file`` on every request when one is given,
    because the kubelet rotates projected service account tokens in place.
    """

    base_url: str
    namespace: str
    token: str = field(default="", repr=False)
    token_file: Path | None = None
    ca_file: Path | None = None

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] = os.environ, account: Path = SERVICE_ACCOUNT
    ) -> KubeConfig:
        """The pod's own service account, as the kubelet mounts it."""
        host = environ.get("KUBERNETES_SERVICE_HOST", "")
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise LeaseRejected(
                "KUBERNETES_SERVICE_HOST is not set: shard leases need the reconciler to run "
                f"in a pod, or {KUBE_API_ENV} to name an API server"
            )
        # An IPv6 service address needs brackets in a URL.
        if ":" in host:
            host = f"[{host}]"
        namespace = environ.get(NAMESPACE_ENV) or read_text(account / "namespace", "namespace")
        return cls(
            base_url=f"https://{host}:{port}",
            namespace=namespace.strip(),
            token_file=account / "token",
            ca_file=account / "ca.crt",
        )

    def bearer_token(self) -> str:
        if self.token_file is not None:
            return read_text(self.token_file, "service account token").strip()
        return self.token


def kube_config_from_environment(environ: Mapping[str, str] = os.environ) -> KubeConfig | None:
    """The API server to hold shard leases on, or None when there is none.

    ``RECONCILER_KUBE_API`` (with ``RECONCILER_KUBE_TOKEN_FILE`` and
    ``POD_NAMESPACE``) names one explicitly; otherwise, inside a pod, the
    in-cluster service account is used; elsewhere there is no API server and
    the reconciler runs as the only shard.
    """
    explicit = environ.get(KUBE_API_ENV)
    if explicit:
        token_file = environ.get(KUBE_TOKEN_FILE_ENV)
        return KubeConfig(
            base_url=explicit.rstrip("/"),
            namespace=environ.get(NAMESPACE_ENV, "default"),
            token_file=Path(token_file) if token_file else None,
        )
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeConfig.in_cluster(environ)
    return None


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise LeaseRejected(
            f"cannot read the {what} from {path}: {e.strerror}; "
            "check that the pod mounts its service account (automountServiceAccountToken)"
        ) from e


@dataclass(frozen=True, slots=True)
class Lease:
    """One Lease as read: what ownership decisions need, and the object itself.

    ``holder`` is None when nobody holds it (absent or empty holderIdentity).
    ``body`` is the object as the API server returned it, so that a replace
    keeps fields this client does not know about.
    """

    name: str
    resource_version: str
    holder: str | None
    duration: float
    transitions: int
    body: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Lease:
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        return cls(
            name=str(metadata.get("name", "")),
            resource_version=str(metadata.get("resourceVersion", "")),
            holder=spec.get("holderIdentity") or None,
            duration=float(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            body=body,
        )


class LeaseClient:
    """Leases in one namespace, with optimistic concurrency on every write."""

    def __init__(self, config: KubeConfig, timeout: float = REQUEST_TIMEOUT) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._collection = (
            f"{config.base_url}{LEASES_API}/namespaces/{quote(config.namespace, safe='')}/leases"
        )

    async def list(self, labels: Mapping[str, str]) -> list[Lease]:
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        body = await self._call("GET", self._collection, params={"labelSelector": selector})
        return [Lease.from_body(item) for item in body.get("items") or []]

    async def read(self, name: str) -> Lease | None:
        try:
            body = await self._call("GET", self._item(name))
        except _NotFound:
            return None
        return Lease.from_body(body)

    async def create(self, name: str, spec: Mapping[str, Any], labels: Mapping[str, str]) -> Lease:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": self.config.namespace, "labels": labels},
            "spec": spec,
        }
        return Lease.from_body(await self._call("POST", self._collection, json=body))

    async def replace(self, lease: Lease, spec: Mapping[str, Any]) -> Lease:
        """Write ``spec`` over the Lease as it was read; 409 if it changed since."""
        metadata = dict(lease.body.get("metadata") or {})
        # The version read travels with the write: the API server refuses it if
        # anyone wrote the Lease in between.
        metadata["resourceVersion"] = lease.resource_version
        body = {**lease.body, "metadata": metadata, "spec": {**lease.body.get("spec", {}), **spec}}
        return Lease.from_body(await self._call("PUT", self._item(lease.name), json=body))

    async def delete(self, lease: Lease) -> None:
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": lease.resource_version},
        }
        try:
            await self._call("DELETE", self._item(lease.name), json=options)
        except _NotFound:
            return

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _item(self, name: str) -> str:
        return f"{self._collection}/{quote(name, safe='')}"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {
            "Authorization": f"Bearer {self.config.bearer_token()}",
            "Accept": "application/json",
        }
        try:
            async with self._open().request(method, url, headers=headers, **kwargs) as response:
                status = response.status
                body = await response.json(content_type=None) if await response.read() else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise LeaseUnavailable(
                f"{method} {url} failed: {e or type(e).__name__}; the Kubernetes API server "
                "is unreachable or answered garbage, retrying"
            ) from e
        if status < 300:
            return body
        message = body.get("message", "") if isinstance(body, dict) else ""
        where = f"{method} {url} answered {status}"
        if status == 409:
            raise LeaseConflict(f"{where}: {message}")
        if status == 404 and method != "POST" and url != self._collection:
            raise _NotFound(where)
        if status >= 500 or status == 429:
            raise LeaseUnavailable(f"{where}: {message}; retrying")
        hint = HINTS.get(status, "the API server refused the request")
        raise LeaseRejected(f"{where}: {message}; {hint}")

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running event loop.
        if self._session is None:
            connector = None
            if self.config.ca_file is not None:
                context = ssl.create_default_context(cafile=str(self.config.ca_file))
                connector = aiohttp.TCPConnector(ssl=context)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session


class _NotFound(Exception):
    """A Lease that does not exist; callers see None or nothing to delete."""
