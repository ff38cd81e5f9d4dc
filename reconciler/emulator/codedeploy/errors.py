"""The one error the CodeDeploy backend raises: an AWS error code with its message."""

from __future__ import annotations


class CodeDeployApiError(Exception):
    """A request CodeDeploy would refuse; the server answers it as AWS does."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
