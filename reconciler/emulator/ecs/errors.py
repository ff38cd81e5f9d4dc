"""The one error the ECS backend raises: an AWS error code with its message."""

from __future__ import annotations


class EcsApiError(Exception):
    """A request ECS would refuse, as AWS names it.

    The server turns it into ``{"__type": code, "message": message}`` with
    ``status``, which botocore reads back as a ``ClientError`` carrying ``code``.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def invalid_parameter(message: str) -> EcsApiError:
    return EcsApiError("InvalidParameterException", message)


def client_error(message: str) -> EcsApiError:
    return EcsApiError("ClientException", message)


def cluster_not_found() -> EcsApiError:
    return EcsApiError("ClusterNotFoundException", "Cluster not found.")


def service_not_found() -> EcsApiError:
    return EcsApiError("ServiceNotFoundException", "Service not found.")
