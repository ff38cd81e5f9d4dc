"""Fake git hosts on 127.0.0.1 that check every exchange against the host's API description.

Each request is validated with openapi-core against the description in
``specs/`` before it is answered, and each answer the fake gives is validated
against the same description before it is sent. Requests are matched as if
they were sent to the host's public address (the descriptions name it), so
the fake listens locally while the check is the real host's contract.

Injected faults (429, 5xx, a secondary rate limit, 422) and the 401 for a
wrong token are answers most descriptions do not declare for these operations:
where the host's description has a schema for its error bodies (GitHub's
``basic-error`` and ``validation-error``) the body is validated against it;
Gitea's and the written Bitbucket description have none to check.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

SPECS = Path(__file__).parent / "specs"
SAMPLES = json.loads((SPECS / "samples.json").read_text())
TOKEN = "test-token-0123456789"


@dataclass(frozen=True)
class HostKind:
    name: str
    spec_file: str
    public_url: str  # the host the description's servers name
    api_prefix: str  # what the provider's base URL adds after the fake's address
    auth_header: str
    auth_value: str


HOSTS = {
    "github": HostKind(
        "github",
        "github-openapi-subset.json",
        "https://api.github.com",
        "",
        "Authorization",
        f"Bearer {TOKEN}",
    ),
    "gitea": HostKind(
        "gitea",
        "gitea-swagger-subset.oas3.json",
        "https://gitea.example.com",
        "/api/v1",
        "Authorization",
        f"token {TOKEN}",
    ),
    "gitlab": HostKind(
        "gitlab",
        "gitlab-openapi-v2-subset.oas3.json",
        "https://gitlab.com",
        "/api/v4",
        "PRIVATE-TOKEN",
        TOKEN,
    ),
    "bitbucket": HostKind(
        "bitbucket",
        "bitbucket-build-status.written.oas3.json",
        "https://api.bitbucket.org",
        "/2.0",
        "Authorization",
        f"Bearer {TOKEN}",
    ),
}


@functools.cache
def load_spec(spec_file: str) -> OpenAPI:
    # Built once per run: openapi-core checks the whole description as it loads it.
    return OpenAPI.from_dict(json.loads((SPECS / spec_file).read_text()))


@functools.cache
def github_schema(name: str) -> dict[str, Any]:
    spec = json.loads((SPECS / "github-openapi-subset.json").read_text())
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error_schema: str | None = None  # GitHub component schema the body must match
    method: str = "POST"  # the requests it answers; others pass


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


SECONDARY_LIMIT = {
    "message": (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you "
        "try again. If you reach out to GitHub Support for help, please include the request ID."
    ),
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    "status": "403",
}
STATUS_LIMIT_422 = {
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "Status",
            "code": "custom",
            "message": "This SHA and context has reached the maximum number of statuses.",
        }
    ],
    "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
    "status": "422",
}


class FakeHost:
    """One git host's commit-status endpoints, strict about its contract."""

    def __init__(self, kind: HostKind) -> None:
        self.kind = kind
        self.spec = load_spec(kind.spec_file)
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.stored: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.address = ""

    @property
    def base_url(self) -> str:
        """What a provider is given as its base URL."""
        return self.address + self.kind.api_prefix

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        headers = dict(request.headers)
        self.received.append(Received(request.method, request.raw_path, headers, body))
        mock = MockRequest(
            self.kind.public_url,
            request.method.lower(),
            request.raw_path.split("?", 1)[0],
            args=dict(request.query),
            headers=headers,
            data=raw or None,
            content_type=request.content_type or "application/json",
        )
        try:
            self.spec.validate_request(mock)
        except Exception as e:
            self.violations.append(f"request {request.method} {request.raw_path}: {e!r}")
            return web.json_response(
                {"message": f"request violates the description: {e}"}, status=400
            )
        if headers.get(self.kind.auth_header) != self.kind.auth_value:
            return self._answer(mock, 401, {"message": "Bad credentials"})
        if self.faults and self.faults[0].method == request.method:
            return self._fault(self.faults.pop(0))
        if request.method == "POST":
            status, answer = self._create(request.match_info["tail"], body or {})
        else:
            status, answer = 200, self._list(request.match_info["tail"])
        return self._answer(mock, status, answer)

    def _answer(self, mock: MockRequest, status: int, body: Any) -> web.Response:
        payload = json.dumps(body).encode()
        try:
            self.spec.validate_response(mock, MockResponse(payload, status_code=status))
        except ResponseNotFound:
            # An error the operation does not declare (401 here): GitHub's error body
            # schema still applies; the other descriptions have none.
            if self.kind.name == "github":
                self._check_error_body("basic-error", body)
        except Exception as e:
            self.violations.append(f"response {status} to {mock.path}: {e!r}")
        return web.Response(body=payload, status=status, content_type="application/json")

    def _check_error_body(self, schema: str, body: Any) -> None:
        errors = list(OAS30Validator(github_schema(schema)).iter_errors(body))
        if errors:
            self.violations.append(f"error body not a {schema}: {errors[0]}")

    def _fault(self, fault: Fault) -> web.Response:
        if fault.error_schema is not None:
            self._check_error_body(fault.error_schema, fault.body)
        payload = json.dumps(fault.body).encode() if fault.body is not None else b""
        return web.Response(
            body=payload,
            status=fault.status,
            headers=fault.headers,
            content_type="application/json",
        )

    def _sha_of(self, tail: str) -> str:
        parts = tail.split("/")
        marker = {"github": "statuses", "gitea": "statuses", "gitlab": "statuses"}.get(
            self.kind.name, "commit"
        )
        if self.kind.name == "bitbucket":
            return parts[parts.index("commit") + 1]
        if self.kind.name == "github" and "commits" in parts:
            return parts[parts.index("commits") + 1]
        if self.kind.name == "gitlab" and "commits" in parts:
            return parts[parts.index("commits") + 1]
        return parts[parts.index(marker) + 1]

    def current(self, sha: str, context: str) -> dict[str, Any] | None:
        field_name = {"gitlab": "name", "bitbucket": "name"}.get(self.kind.name, "context")
        mine = [s for s in self.stored.get(sha, []) if s.get(field_name) == context]
        return mine[-1] if mine else None

    def _create(self, tail: str, body: dict[str, Any]) -> tuple[int, Any]:
        sha = self._sha_of(tail)
        number = next(self._ids)
        stamp = f"2026-01-01T12:00:{number % 60:02d}Z"
        if self.kind.name == "github":
            item = copy.deepcopy(SAMPLES["github"]["response"])
            item.update(
                id=number,
                state=body["state"],
                context=body.get("context", "default"),
                description=body.get("description"),
                target_url=body.get("target_url"),
                created_at=stamp,
                updated_at=stamp,
            )
            status = 201
        elif self.kind.name == "gitea":
            item = copy.deepcopy(SAMPLES["gitea"]["response"])
            item.update(
                id=number,
                status=body["state"],
                context=body.get("context", ""),
                description=body.get("description", ""),
                target_url=body.get("target_url", ""),
            )
            status = 201
        elif self.kind.name == "gitlab":
            name = body.get("name") or body.get("context") or "default"
            shown = self.current(sha, name)
            if shown is not None and shown["status"] == body["state"]:
                # What GitLab answers when a job is asked to enter the state it is in.
                return 400, {
                    "message": f"Cannot transition status via :enqueue from :{body['state']}"
                }
            item = copy.deepcopy(SAMPLES["gitlab"]["response"])
            item.update(
                id=number,
                sha=sha,
                status=body["state"],
                name=name,
                description=body.get("description", ""),
            )
            if body.get("target_url"):
                item["target_url"] = body["target_url"]
            status = 200
        else:
            item = {
                "type": "build",
                "uuid": f"{{{number:08d}-0000-0000-0000-000000000000}}",
                "key": body["key"],
                "state": body["state"],
                "name": body.get("name", ""),
                "description": body.get("description", ""),
                "url": body.get("url", ""),
                "created_on": "2026-01-01T12:00:00+00:00",
                "updated_on": f"2026-01-01T12:{number // 60 % 60:02d}:{number % 60:02d}+00:00",
                "links": {"self": {"href": "https://api.bitbucket.org/2.0/x"}},
            }
            previous = [s for s in self.stored.get(sha, []) if s["key"] == body["key"]]
            for old in previous:  # Bitbucket overwrites a status with the same key
                self.stored[sha].remove(old)
            status = 200 if previous else 201
        self.stored.setdefault(sha, []).append(item)
        return status, item

    def _list(self, tail: str) -> Any:
        items = list(self.stored.get(self._sha_of(tail), []))
        if self.kind.name == "github":
            return list(reversed(items))  # newest first, as GitHub lists them
        if self.kind.name == "gitlab":
            latest: dict[str, dict[str, Any]] = {}
            for item in items:
                latest[item["name"]] = item
            return list(latest.values())
        if self.kind.name == "bitbucket":
            return {"size": len(items), "page": 1, "pagelen": 100, "values": items}
        return items
