"""The layer under every stage: AWS sessions, clients, pacing and error wrapping."""

from reconciler.aws.calls import Aws, RetryPolicy
from reconciler.aws.pacing import Pacer
from reconciler.aws.sessions import AwsTarget, Sessions

__all__ = ["Aws", "AwsTarget", "Pacer", "RetryPolicy", "Sessions"]
