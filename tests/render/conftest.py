"""An AWS endpoint for render lookups: a moto server on a loopback port.

The project's emulator (tests/conftest.py) is the intended endpoint; until it
starts on main (its ECS backend is still being written), these tests run
against moto directly, which serves every service lookups use (SSM, Secrets
Manager, CloudFormation, S3).
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from reconciler.aws import Aws, Pacer, RetryPolicy, Sessions


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LookupEndpoint:
    """boto3 clients for seeding what the units look up."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass


@pytest.fixture(scope="session")
def lookup_server() -> Iterator[LookupEndpoint]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield LookupEndpoint(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def lookup_endpoint(lookup_server: LookupEndpoint) -> LookupEndpoint:
    """The session's endpoint, emptied before the test."""
    lookup_server.reset()
    return lookup_server


@pytest.fixture
def lookup_aws(lookup_endpoint: LookupEndpoint) -> Iterator[Aws]:
    layer = Aws(
        Sessions(endpoint_url=lookup_endpoint.endpoint),
        pacer=Pacer.unlimited(),
        retry=RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01),
    )
    yield layer
    layer.close()
