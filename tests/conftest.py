"""Test harness: the embedded emulator on a free loopback port, reset per test.

No test talks to real AWS: credentials are dummies, the instance metadata
service is disabled, and every client is pointed at the emulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import boto3
import botocore.config
import pytest

from reconciler.aws import Aws, Pacer, RetryPolicy, Sessions

T = TypeVar("T")

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def pytest_configure(config: pytest.Config) -> None:
    # Before any boto3 client exists, so no test can reach a real endpoint.
    os.environ.update(DUMMY_ENV)
    os.environ.pop("AWS_PROFILE", None)


class EmulatorHandle:
    """A test's view of the emulator: boto3 clients and the control endpoints."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str = "us-east-1") -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self.endpoint,
                config=botocore.config.Config(
                    retries={"total_max_attempts": 1, "mode": "standard"}
                ),
            )
        return self._clients[key]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator/{path}", data=data, method=method
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def tick(self, seconds: float) -> float:
        return float(self.control("POST", "tick", {"seconds": seconds})["now"])

    def now(self) -> float:
        return float(self.control("GET", "clock")["now"])

    def stats(self) -> dict[str, int]:
        calls: dict[str, int] = self.control("GET", "stats")["calls"]
        return calls

    def reset_stats(self) -> None:
        self.control("POST", "stats/reset")

    def faults(self, **rule: Any) -> Any:
        return self.control("POST", "faults", rule)

    def release(self) -> int:
        return int(self.control("POST", "release")["released"])

    def seed(self, document: Any) -> dict[str, str]:
        created: dict[str, str] = self.control("POST", "seed", document)["created"]
        return created

    def fail_images(self, *images: str) -> None:
        self.control("POST", "failing-images", {"images": list(images)})


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorHandle]:
    from reconciler.emulator.app import Emulator

    emulator = Emulator("127.0.0.1", 0)
    emulator.start()
    try:
        yield EmulatorHandle(emulator.endpoint)
    finally:
        emulator.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorHandle) -> EmulatorHandle:
    """The session's emulator, emptied before the test."""
    emulator_server.control("POST", "reset")
    return emulator_server


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh loop and fail if it leaves tasks behind."""

    async def guarded() -> T:
        result = await coroutine
        leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leaked, f"tasks left running: {leaked}"
        return result

    return asyncio.run(guarded())


@pytest.fixture
def aws(emulator: EmulatorHandle) -> Iterator[Aws]:
    """The reconciler's AWS layer pointed at the emulator, never pacing."""
    layer = Aws(
        Sessions(endpoint_url=emulator.endpoint),
        pacer=Pacer.unlimited(),
        retry=RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01),
    )
    yield layer
    layer.close()
