"""Git remotes on loopback for the watch tests: ``git daemon`` and ``git
http-backend`` behind a basic-auth aiohttp server, plus a git CLI helper."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str) -> str:
    """Run the git CLI in ``cwd`` with a fixed identity; its stdout, stripped."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def commit_file(work: Path, name: str, text: str, message: str) -> str:
    """Write a file in the working copy ``work``, commit it; the new commit id."""
    (work / name).write_text(text)
    git(work, "add", name)
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def make_served_repo(root: Path, name: str = "app.git") -> tuple[Path, Path]:
    """A bare repository under ``root`` and a working copy pushing to it, with
    one commit on main; ``(bare, work)``."""
    bare = root / name
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    work = root / "work"
    git(root, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(bare))
    commit_file(work, "README", "one\n", "first")
    git(work, "push", "-q", "origin", "main")
    return bare, work


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class GitDaemon:
    """``git daemon`` serving ``base`` on 127.0.0.1, with pushes allowed."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--verbose",
                "--reuseaddr",
                f"--base-path={self.base}",
                "--export-all",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                "--enable=receive-pack",
                str(self.base),
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **GIT_ENV},
        )
        # The daemon says so on stderr once it listens; no polling of the port.
        assert self._process.stderr is not None
        seen: list[str] = []
        for line in self._process.stderr:
            seen.append(line)
            if "Ready to rumble" in line:
                break
        else:
            raise AssertionError(f"git daemon did not start: {''.join(seen)}")
        stream = self._process.stderr
        self._drain = threading.Thread(target=lambda: [None for _ in stream], daemon=True)
        self._drain.start()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
        if self._drain is not None:
            self._drain.join(timeout=30)
            self._drain = None
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None


def serve_git_daemon(base: Path) -> Iterator[GitDaemon]:
    daemon = GitDaemon(base)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


class SmartHttp:
    """``git http-backend`` behind an aiohttp server on 127.0.0.1 that asks for
    basic auth and records the users and passwords it was sent."""

    def __init__(self, root: Path, username: str, token: str) -> None:
        self.root = root
        self.expected = (username, token)
        self.seen: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        credentials = self._credentials(request)
        if credentials is None or credentials != self.expected:
            if credentials is not None:
                self.seen.append(credentials)
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Basic realm="git"'}, text="no"
            )
        self.seen.append(credentials)
        body = await request.read()
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": credentials[0],
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if "Content-Encoding" in request.headers:
            env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
        if "Git-Protocol" in request.headers:
            env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
        backend = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output, _ = await backend.communicate(body)
        head, _, payload = output.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name and name.lower() != "content-length":
                headers[name.strip()] = value.strip()
        return web.Response(status=status, headers=headers, body=payload)

    @staticmethod
    def _credentials(request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password
