"""The last stage: what the reconciler tells people about what it did.

Commit statuses through a provider (git notes by default, or a git host's
API), alerts to a webhook, and (in their own modules) metrics and logs.
"""

from reconciler.report.alerts import Alert, AlertFormat, AlertKind, AlertNotifier
from reconciler.report.delivery import (
    ReportMisconfigured,
    ReportRejected,
    ReportUnavailable,
    RetryPolicy,
)
from reconciler.report.factory import StatusSettings, make_status_provider
from reconciler.report.statuses import (
    StageNews,
    StatusProvider,
    StatusReporter,
    console_url,
    describe_drift,
    describe_rollout,
    drift_context,
    drift_status,
    invalid_status,
    rollout_context,
    rollout_status,
)

__all__ = [
    "Alert",
    "AlertFormat",
    "AlertKind",
    "AlertNotifier",
    "ReportMisconfigured",
    "ReportRejected",
    "ReportUnavailable",
    "RetryPolicy",
    "StageNews",
    "StatusProvider",
    "StatusReporter",
    "StatusSettings",
    "console_url",
    "describe_drift",
    "describe_rollout",
    "drift_context",
    "drift_status",
    "invalid_status",
    "make_status_provider",
    "rollout_context",
    "rollout_status",
]
