"""Git repositories for the gitnotes tests: made with the git CLI, served on 127.0.0.1.

libgit2 pushes to a ``file://`` remote by writing into it directly, so the
remote's hooks never run there. A remote that must be able to refuse a push
is served over ``git://`` instead: a socket on 127.0.0.1 hands each connection
to ``git daemon --inetd``, which runs receive-pack and its hooks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": os.devnull,
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout


def make_origin(root: Path, *, refuse_pushes: bool = False) -> Path:
    """A bare repository with one commit on main; optionally refusing every push."""
    seed = root / "seed"
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("units\n")
    git("add", "README.md", cwd=seed)
    git("commit", "-q", "-m", "First unit", cwd=seed)
    origin = root / "origin.git"
    git("clone", "-q", "--bare", str(seed), str(origin))
    git("config", "daemon.receivepack", "true", cwd=origin)
    if refuse_pushes:
        hook = origin / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'notes are not accepted here' >&2\nexit 1\n")
        hook.chmod(0o755)
    return origin


def clone(origin_url: str, target: Path) -> str:
    """Clone as the reconciler does (bare); return the head commit's id."""
    git("clone", "-q", "--bare", origin_url, str(target))
    return git("rev-parse", "HEAD", cwd=target).strip()


class GitDaemon:
    """Serves ``base`` over git:// on 127.0.0.1, one ``git daemon --inetd`` per connection."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = self._listener.getsockname()[1]
        self._children: list[subprocess.Popen[bytes]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                self._children.append(
                    subprocess.Popen(
                        [
                            "git",
                            "daemon",
                            "--inetd",
                            "--export-all",
                            f"--base-path={self.base}",
                            str(self.base),
                        ],
                        stdin=connection.fileno(),
                        stdout=connection.fileno(),
                        stderr=subprocess.DEVNULL,
                        env=GIT_ENV,
                    )
                )

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would not.
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=10)
        for child in self._children:
            child.wait(timeout=30)
