"""Every boto3 call the reconciler makes goes through :class:`Aws`.

It runs the call off the event loop in a bounded thread pool, paces it, retries
throttling and transient failures with jittered backoff, counts it, and wraps
whatever botocore raises once into :mod:`reconciler.errors`, keeping the
service, the operation and AWS's error code.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from reconciler.aws.pacing import Pacer
from reconciler.aws.sessions import AwsTarget, Sessions
from reconciler.errors import AwsError, PermanentAwsError, Reason, TransientAwsError

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
        "EC2ThrottledException",
    }
)
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "AuthFailure",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "ServiceNotActiveException",
        "ParameterNotFound",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "ObjectNotFoundException",
        "NoSuchKey",
        "NoSuchBucket",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
        "ApplicationDoesNotExistException",
        "DeploymentGroupDoesNotExistException",
        "DeploymentDoesNotExistException",
    }
)


def wrap_client_error(
    service: str, operation: str, error: botocore.exceptions.ClientError
) -> AwsError:
    """Map a botocore ClientError to the project's error tree, once."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", "")) or str(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in THROTTLING_CODES or status == 429:
        return TransientAwsError(Reason.AWS_THROTTLED, service, operation, code, message)
    if code in UNAVAILABLE_CODES or status >= 500:
        return TransientAwsError(Reason.AWS_UNAVAILABLE, service, operation, code, message)
    if code in ACCESS_CODES:
        return PermanentAwsError(Reason.AWS_ACCESS_DENIED, service, operation, code, message)
    if code in NOT_FOUND_CODES:
        return PermanentAwsError(Reason.AWS_NOT_FOUND, service, operation, code, message)
    return PermanentAwsError(Reason.AWS_REJECTED, service, operation, code, message)


def wrap_error(service: str, operation: str, error: Exception) -> AwsError:
    """Map anything a boto3 call raises to the project's error tree."""
    if isinstance(error, botocore.exceptions.ClientError):
        return wrap_client_error(service, operation, error)
    if isinstance(
        error,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        return TransientAwsError(
            Reason.AWS_UNAVAILABLE, service, operation, type(error).__name__, str(error)
        )
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.NoRegionError
    ):
        return PermanentAwsError(
            Reason.AWS_ACCESS_DENIED,
            service,
            operation,
            type(error).__name__,
            f"{error}; configure credentials (environment, profile, IAM role) and a region",
        )
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return PermanentAwsError(
            Reason.AWS_REJECTED, service, operation, "ParamValidationError", str(error)
        )
    return PermanentAwsError(
        Reason.AWS_REJECTED, service, operation, type(error).__name__, str(error)
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff for transient failures."""

    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 20.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to the exponential ceiling."""
        ceiling = min(self.max_delay, self.base_delay * (2.0**attempt))
        return ceiling * rng()


def operation_name(method: str) -> str:
    """``describe_services`` -> ``DescribeServices``, as AWS names its operations."""
    return "".join(part.capitalize() for part in method.split("_"))


MAX_WORKERS = 16
"""Calls in flight at once. Enough to keep ahead of the pacer at any latency AWS
shows (16 calls of 100 ms are 160 a second), few enough that the threads do not
spend their CPU handing the interpreter lock around: parsing a response is
Python work, and at 32 threads a drift check of 1000 units took a quarter more CPU."""


class Aws:
    """Runs boto3 calls off the event loop: paced, retried, counted, wrapped."""

    def __init__(
        self,
        sessions: Sessions | None = None,
        *,
        max_workers: int = MAX_WORKERS,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.sessions = sessions or Sessions(max_pool_connections=max_workers)
        self.pacer = pacer or Pacer()
        self.retry = retry or RetryPolicy()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aws")
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()

    async def call(self, service: str, method: str, target: AwsTarget, /, **params: Any) -> Any:
        """Call ``service.method(**params)`` at ``target``; return its response.

        The first three are positional-only, so that ECS's own ``service``
        parameter (UpdateService) can be passed in ``params``.

        Transient failures are retried within the policy; what is left is raised
        as :class:`~reconciler.errors.TransientAwsError` (try again later) or
        :class:`~reconciler.errors.PermanentAwsError` (fix the request).
        """
        client = self.sessions.client(service, target)
        bound = getattr(client, method)
        operation = operation_name(method)
        name = f"{service}:{operation}"
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            await self.pacer.take(service, operation)
            self.calls[name] += 1
            try:
                return await loop.run_in_executor(self._executor, lambda: bound(**params))
            except Exception as exc:  # wrapped once, here
                error = wrap_error(service, operation, exc)
                if error.reason is Reason.AWS_THROTTLED:
                    self.throttles[name] += 1
                attempt += 1
                if not error.transient or attempt >= self.retry.attempts:
                    raise error from exc
                delay = self.retry.delay(attempt)
                log.debug(
                    "retrying AWS call",
                    extra={"call": name, "code": error.code, "attempt": attempt, "delay": delay},
                )
                await asyncio.sleep(delay)

    async def paginate(
        self, service: str, method: str, target: AwsTarget, result_key: str, /, **params: Any
    ) -> list[Any]:
        """Every page of a list call, each page a paced and retried call of its own."""
        items: list[Any] = []
        while True:
            page = await self.call(service, method, target, **params)
            items.extend(page.get(result_key, []))
            # ECS, CodeDeploy and Logs say nextToken; most others NextToken.
            token_key = "nextToken" if "nextToken" in page else "NextToken"
            token = page.get(token_key)
            if not token:
                return items
            params = {**params, token_key: token}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
