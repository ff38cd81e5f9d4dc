"""The emulator's HTTP front: one WSGI application on one loopback port.

Each request is routed by the service name in its SigV4 credential scope:
ECS (and, later, CodeDeploy) to the emulator's own backends, every other AWS
service to moto, and ``/_emulator/`` to the control endpoints. On the way every
AWS call is counted and may be delayed, held, throttled or failed (``faults``).
Throttles and errors are answered in the body each protocol's clients parse, so
boto3 raises the same exceptions it raises against AWS.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from reconciler.emulator.faults import Faults

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

INTERNAL_HEADER = "HTTP_X_EMULATOR_INTERNAL"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


class Backend(Protocol):
    def handle(self, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...


class ControlApi(Protocol):
    def __call__(
        self, method: str, path: str, body: bytes, query: dict[str, str]
    ) -> tuple[int, Any]: ...


class AwsRequest:
    """What the router needs to know about an incoming AWS call."""

    def __init__(self, environ: dict[str, Any], body: bytes) -> None:
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        self.service = match["service"] if match else "unknown"
        self.region = match["region"] if match else "us-east-1"
        self.target: str | None = environ.get("HTTP_X_AMZ_TARGET")
        self.method = str(environ.get("REQUEST_METHOD", "GET"))
        self.path = str(environ.get("PATH_INFO", "/"))
        self.body = body
        self.operation = self._operation(environ)

    @property
    def name(self) -> str:
        """``service:Operation``, as IAM names it."""
        return f"{self.service}:{self.operation}"

    @property
    def protocol(self) -> str:
        if self.target:
            return "json"
        if self.service == "s3":
            return "rest-xml"
        return "query"

    def _operation(self, environ: dict[str, Any]) -> str:
        if self.target:
            return self.target.rsplit(".", 1)[-1]
        params = parse_qs(str(environ.get("QUERY_STRING", "")))
        if self.method == "POST" and b"Action=" in self.body:
            params.update(parse_qs(self.body.decode("utf-8", "replace")))
        if "Action" in params:
            return params["Action"][0]
        if self.service == "s3":
            return _s3_operation(self.method, self.path)
        return f"{self.method}{self.path}"


def _s3_operation(method: str, path: str) -> str:
    has_key = len([p for p in path.split("/") if p]) > 1
    names = {
        ("GET", True): "GetObject",
        ("GET", False): "ListObjects",
        ("PUT", True): "PutObject",
        ("PUT", False): "CreateBucket",
        ("HEAD", True): "HeadObject",
        ("HEAD", False): "HeadBucket",
        ("DELETE", True): "DeleteObject",
        ("DELETE", False): "DeleteBucket",
    }
    return names.get((method, has_key), f"{method.capitalize()}Object")


# What each kind of fault looks like on the wire, per protocol and service.
THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "s3": "SlowDown"}
ERROR_CODES = {"ecs": "ServerException", "s3": "InternalError"}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def error_response(
    request: AwsRequest, code: str, message: str, status: int
) -> tuple[int, list[tuple[str, str]], bytes]:
    """An AWS error body as the request's protocol carries it."""
    request_id = str(uuid.uuid4())
    if request.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
        return status, headers, body
    if request.protocol == "rest-xml":
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        )
        return status, [("Content-Type", "application/xml")], xml.encode()
    if request.service == "ec2":
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID>"
            "</Response>"
        )
    else:
        xml = (
            f"<?xml version='1.0' encoding='UTF-8'?><ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, [("Content-Type", "text/xml")], xml.encode()


class EmulatorApp:
    """The WSGI application: control endpoints, fault injection, routing."""

    def __init__(
        self,
        *,
        moto_app: WsgiApp,
        backends: dict[str, Backend],
        faults: Faults,
        control: ControlApi,
    ) -> None:
        self._moto = moto_app
        self._backends = backends
        self._faults = faults
        self._control = control

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        path = environ.get("PATH_INFO", "/")
        if path.startswith("/_emulator/"):
            return self._serve_control(environ, start_response, path, body)

        request = AwsRequest(environ, body)
        if not environ.get(INTERNAL_HEADER):
            verdict = self._faults.on_call(request.name)
            if verdict == "throttle":
                code = THROTTLE_CODES.get(request.service, "ThrottlingException")
                if request.protocol == "query" and request.service != "ec2":
                    code = "Throttling"
                status = 503 if request.service == "s3" else 400
                return _respond(
                    start_response, *error_response(request, code, "Rate exceeded", status)
                )
            if verdict == "error":
                code = ERROR_CODES.get(request.service, "InternalFailure")
                message = "The emulator injected a server error."
                return _respond(start_response, *error_response(request, code, message, 500))

        backend = self._backends.get(request.service)
        if backend is not None:
            return self._serve_backend(backend, request, start_response)
        return self._moto(environ, start_response)

    def _serve_backend(
        self, backend: Backend, request: AwsRequest, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            params = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            return _respond(
                start_response,
                *error_response(request, "SerializationException", "Malformed JSON body", 400),
            )
        try:
            result = backend.handle(request.region, request.operation, params)
        except Exception as exc:  # an API error a backend raised on purpose
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                log.exception("emulated %s failed", request.name)
                return _respond(
                    start_response,
                    *error_response(request, "ServerException", f"emulator bug: {exc}", 500),
                )
            status = int(getattr(exc, "status", 400))
            message = str(getattr(exc, "message", exc))
            return _respond(start_response, *error_response(request, code, message, status))
        payload = json.dumps(result, default=_json_default).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        return _respond(start_response, 200, headers, payload)

    def _serve_control(
        self, environ: dict[str, Any], start_response: StartResponse, path: str, body: bytes
    ) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        method = environ.get("REQUEST_METHOD", "GET")
        status, result = self._control(method, path.removeprefix("/_emulator/"), body, query)
        payload = json.dumps(result, default=_json_default).encode()
        return _respond(start_response, status, [("Content-Type", "application/json")], payload)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ.get("wsgi.input")
    body = stream.read(length) if (stream is not None and length) else b""
    # moto reads the body again: give it a fresh stream.
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _respond(
    start_response: StartResponse, status: int, headers: list[tuple[str, str]], body: bytes
) -> Iterable[bytes]:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [*headers, ("Content-Length", str(len(body)))],
    )
    return [body]
