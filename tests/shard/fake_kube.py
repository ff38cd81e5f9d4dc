"""A small Kubernetes API server for Leases (coordination.k8s.io/v1), on 127.0.0.1.

It implements what shard ownership uses, as the real API server behaves:
list (with an equality labelSelector), get, create, replace and delete of
Leases in one namespace; a global resourceVersion bumped on every write;
409 Conflict for a write based on a stale resourceVersion and 409
AlreadyExists for a create; 401 for a missing or unknown bearer token; 403
for any other namespace (the chart's Role covers one namespace only).

One deliberate strictness: the real API server accepts a replace without a
resourceVersion as an unconditional write. This one refuses it with 422, so
a test proves that every write of ours is conditional.

Run it inside a test's event loop (``async with FakeKube(...)``) or on a
thread of its own for tests that start reconciler processes
(``with FakeKube(...).serving_in_thread()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

# Called with the stored Lease, which it may change, before a write to it is
# handled: stands for another client writing in between our read and write.
Interference = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    name: str | None
    status: int
    token: str


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def failure(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_body(code, reason, message), status=code)


class FakeKube:
    """Leases in one namespace, guarded by bearer tokens."""

    def __init__(self, namespace: str = "reconciler", tokens: tuple[str, ...] = ()) -> None:
        self.namespace = namespace
        self.tokens = set(tokens)
        self.leases: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.endpoint = ""
        self._versions = itertools.count(1000)
        self._interference: dict[str, Interference] = {}
        self._failing: dict[str, set[str]] = {}
        self._lock = threading.RLock()
        self._runner: web.AppRunner | None = None

    # What tests use to look and to interfere.

    def holder_of(self, name: str) -> str | None:
        with self._lock:
            lease = self.leases.get(name)
            holder = lease["spec"].get("holderIdentity") if lease else None
            return str(holder) if holder else None

    def interfere_before_next_write(self, name: str, change: Interference) -> None:
        """Let ``change`` write the Lease (bumping its version) before our next write."""
        with self._lock:
            self._interference[name] = change

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens.discard(token)

    def fail(self, token: str, *verbs: str) -> None:
        """Answer 503 to these verbs (list, get, create, update, delete) from ``token``."""
        with self._lock:
            self._failing.setdefault(token, set()).update(verbs)

    def conflicts(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.status == 409]

    # Serving.

    async def __aenter__(self) -> FakeKube:
        app = web.Application()
        base = LEASES.format(namespace="{namespace}")
        app.router.add_get(base, self._list)
        app.router.add_post(base, self._create)
        app.router.add_get(base + "/{name}", self._get)
        app.router.add_put(base + "/{name}", self._replace)
        app.router.add_delete(base + "/{name}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def serving_in_thread(self) -> Iterator[FakeKube]:
        """Serve from a thread with its own event loop, for other processes to call."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        stopping = asyncio.Event()

        async def serve() -> None:
            async with self:
                ready.set()
                await stopping.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the fake Kubernetes API did not start within 30 s")
            yield self
        finally:
            loop.call_soon_threadsafe(stopping.set)
            thread.join(30)
            loop.close()

    # Handlers.

    async def _list(self, request: web.Request) -> web.Response:
        refused = self._refuse(request, None, "list")
        if refused is not None:
            return refused
        wanted = parse_selector(request.query.get("labelSelector", ""))
        with self._lock:
            items = [
                copy.deepcopy(lease)
                for _, lease in sorted(self.leases.items())
                if all(lease["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
            ]
            version = str(next(self._versions))
        return self._answer(
            request,
            None,
            200,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "LeaseList",
                "metadata": {"resourceVersion": version},
                "items": items,
            },
        )

    async def _get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        refused = self._refuse(request, name, "get")
        if refused is not None:
            return refused
        with self._lock:
            lease = copy.deepcopy(self.leases.get(name))
        if lease is None:
            return self._fail(request, name, 404, "NotFound", f'leases "{name}" not found')
        return self._answer(request, name, 200, lease)

    async def _create(self, request: web.Request) -> web.Response:
        refused = self._refuse(request, None, "create")
        if refused is not None:
            return refused
        body = await request.json()
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        if body.get("kind") != "Lease" or not name:
            return self._fail(request, name, 422, "Invalid", "a Lease with a name is required")
        if metadata.get("resourceVersion"):
            return self._fail(
                request, name, 422, "Invalid", "resourceVersion should not be set on create"
            )
        with self._lock:
            if name in self.leases:
                return self._fail(
                    request, name, 409, "AlreadyExists", f'leases "{name}" already exists'
                )
            metadata["namespace"] = self.namespace
            metadata["uid"] = f"uid-{name}"
            metadata["resourceVersion"] = str(next(self._versions))
            self.leases[name] = body
            stored = copy.deepcopy(body)
        return self._answer(request, name, 201, stored)

    async def _replace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        refused = self._refuse(request, name, "update")
        if refused is not None:
            return refused
        body = await request.json()
        metadata = body.get("metadata") or {}
        if metadata.get("name") != name:
            return self._fail(request, name, 400, "BadRequest", "the name in the body differs")
        read_at = metadata.get("resourceVersion")
        if not read_at:
            return self._fail(
                request, name, 422, "Invalid", "this fake refuses unconditional writes"
            )
        with self._lock:
            self._interfere(name)
            stored = self.leases.get(name)
            if stored is None:
                return self._fail(request, name, 404, "NotFound", f'leases "{name}" not found')
            if stored["metadata"]["resourceVersion"] != read_at:
                return self._fail(
                    request,
                    name,
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            metadata["resourceVersion"] = str(next(self._versions))
            metadata["uid"] = stored["metadata"]["uid"]
            metadata["namespace"] = self.namespace
            spec = {k: v for k, v in (body.get("spec") or {}).items() if v is not None}
            body["spec"] = spec
            self.leases[name] = body
            stored = copy.deepcopy(body)
        return self._answer(request, name, 200, stored)

    async def _delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        refused = self._refuse(request, name, "delete")
        if refused is not None:
            return refused
        options = await request.json() if request.can_read_body else {}
        wanted = (options.get("preconditions") or {}).get("resourceVersion")
        with self._lock:
            self._interfere(name)
            stored = self.leases.get(name)
            if stored is None:
                return self._fail(request, name, 404, "NotFound", f'leases "{name}" not found')
            if wanted and stored["metadata"]["resourceVersion"] != wanted:
                return self._fail(
                    request, name, 409, "Conflict", "the resourceVersion precondition failed"
                )
            del self.leases[name]
        return self._answer(request, name, 200, status_body(200, "", "deleted") | {"code": 200})

    def _interfere(self, name: str) -> None:
        change = self._interference.pop(name, None)
        if change is not None and name in self.leases:
            change(self.leases[name])
            self.leases[name]["metadata"]["resourceVersion"] = str(next(self._versions))

    def _refuse(self, request: web.Request, name: str | None, verb: str) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        with self._lock:
            known = token in self.tokens
            failing = verb in self._failing.get(token, set())
        if failing:
            return self._fail(request, name, 503, "ServiceUnavailable", "the fake is failing")
        if not known:
            return self._fail(request, name, 401, "Unauthorized", "Unauthorized")
        namespace = request.match_info["namespace"]
        if namespace != self.namespace:
            return self._fail(
                request,
                name,
                403,
                "Forbidden",
                f'leases.coordination.k8s.io is forbidden in the namespace "{namespace}"',
            )
        return None

    def _fail(
        self, request: web.Request, name: str | None, code: int, reason: str, message: str
    ) -> web.Response:
        self._record(request, name, code)
        return failure(code, reason, message)

    def _answer(self, request: web.Request, name: str | None, code: int, body: Any) -> web.Response:
        self._record(request, name, code)
        return web.Response(status=code, text=json.dumps(body), content_type="application/json")

    def _record(self, request: web.Request, name: str | None, code: int) -> None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.calls.append(Call(request.method, name, code, token))


def parse_selector(selector: str) -> dict[str, str]:
    """An equality-only labelSelector (``a=b,c=d``), all the reconciler sends."""
    wanted: dict[str, str] = {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        wanted[key.strip()] = value.strip()
    return wanted
