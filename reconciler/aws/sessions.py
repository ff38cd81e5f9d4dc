"""One boto3 session per account, region and assumed role; its clients built once.

Credentials come from the default chain, so environment variables, shared
config, IAM roles for service accounts and EKS Pod Identity all work unchanged.
A unit that names a role is served by a session that assumes it, with a session
name CloudTrail attributes to the reconciler, refreshed before it expires.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any, cast

import boto3
import botocore.config
import botocore.credentials
import botocore.session

from reconciler import __version__
from reconciler.aws.parsing import PlannedResponseParserFactory, epoch_or_text_timestamp

SESSION_NAME_PREFIX = "ecs-gitops-reconciler"


@dataclass(frozen=True, slots=True)
class AwsTarget:
    """Where a call goes: a region, and the role to assume there, if any."""

    region: str
    role_arn: str | None = None
    external_id: str | None = None

    def __str__(self) -> str:
        return f"{self.region} as {self.role_arn}" if self.role_arn else self.region


def role_session_name() -> str:
    """A name CloudTrail shows for every call the reconciler makes (max 64)."""
    host = socket.gethostname().split(".")[0]
    return f"{SESSION_NAME_PREFIX}-{host}"[:64]


class Sessions:
    """Builds sessions and clients once per target, safely from many threads."""

    def __init__(self, *, max_pool_connections: int = 32, endpoint_url: str | None = None) -> None:
        self._endpoint_url = endpoint_url
        self._config = botocore.config.Config(
            max_pool_connections=max_pool_connections,
            connect_timeout=5,
            read_timeout=60,
            # Retries are ours (reconciler.aws.calls): one policy, paced, counted.
            retries={"mode": "standard", "total_max_attempts": 1},
            user_agent_extra=f"ecs-gitops-reconciler/{__version__}",
        )
        self._lock = threading.Lock()
        self._sessions: dict[AwsTarget, boto3.Session] = {}
        self._clients: dict[tuple[AwsTarget, str], Any] = {}

    def client(self, service: str, target: AwsTarget) -> Any:
        """The client for ``service`` at ``target``, built on first use."""
        key = (target, service)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                session = self._session(target)
                client = session.client(
                    cast(Any, service),
                    region_name=target.region,
                    config=self._config,
                    endpoint_url=self._endpoint_url,
                )
                self._clients[key] = client
            return client

    def _session(self, target: AwsTarget) -> boto3.Session:
        session = self._sessions.get(target)
        if session is not None:
            return session
        if target.role_arn is None:
            session = boto3.Session(botocore_session=_core_session(), region_name=target.region)
        else:
            session = self._assumed_session(target)
        self._sessions[target] = session
        return session

    def _assumed_session(self, target: AwsTarget) -> boto3.Session:
        base = self._session(AwsTarget(target.region))
        sts = base.client(
            "sts", region_name=target.region, config=self._config, endpoint_url=self._endpoint_url
        )
        assert target.role_arn is not None
        params: dict[str, Any] = {
            "RoleArn": target.role_arn,
            "RoleSessionName": role_session_name(),
        }
        if target.external_id:
            params["ExternalId"] = target.external_id

        def fetch() -> dict[str, str]:
            creds = sts.assume_role(**params)["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        # Refreshed by botocore shortly before expiry, so a long-running loop
        # never calls with stale credentials.
        credentials = botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=fetch, method="sts-assume-role"
        )
        core = _core_session()
        # botocore has no public setter for refreshable credentials on a session.
        cast(Any, core)._credentials = credentials
        core.set_config_variable("region", target.region)
        return boto3.Session(botocore_session=core)


def _core_session() -> botocore.session.Session:
    """A botocore session whose clients parse responses the cheaper way.

    JSON protocol bodies are walked by plans compiled once per output shape
    (:mod:`reconciler.aws.parsing`), and timestamps are parsed with
    :func:`epoch_or_text_timestamp`; both return what botocore's own would.
    """
    core = botocore.session.get_session()
    parsers = PlannedResponseParserFactory()
    parsers.set_parser_defaults(timestamp_parser=epoch_or_text_timestamp)
    core.register_component("response_parser_factory", parsers)
    return core
