"""An OpenSSH server on 127.0.0.1 for the ssh watch tests: its host key, its
authorized client key and its configuration all live in a temporary folder, so
nothing of this machine's or this user's ssh setup is read or changed."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.watch.gitserve import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")


def keygen(path: Path, comment: str, passphrase: str = "") -> str:
    """A new ed25519 key pair at ``path``; the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path.with_name(f"{path.name}.pub").read_text().strip()


class SshServer:
    """``sshd`` on a free port of 127.0.0.1 that lets the current user in with
    ``client_key`` only, and runs git commands on repositories by their path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # sshd lets in only the user it runs as, unless it runs as root.
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.port = free_port()
        self.host_key = root / "ssh_host_ed25519_key"
        self.client_key = root / "id_ed25519"
        self.log = root / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"

    def known_hosts_line(self) -> str:
        """The line ``ssh-keyscan`` would give for this server."""
        key_type, key = self.host_key.with_name(f"{self.host_key.name}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}"

    def start(self) -> None:
        if not SSHD.exists():
            pytest.skip(f"{SSHD} is missing; install it with: apt-get install openssh-server")
        if os.geteuid() == 0:
            PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
        keygen(self.host_key, "test host")
        authorized = keygen(self.client_key, "test client")
        (self.root / "authorized_keys").write_text(authorized + "\n")
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    f"AllowUsers {self.user}",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitUserRC no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "",
                ]
            )
        )
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._wait_for_banner()

    def _wait_for_banner(self) -> None:
        """Until sshd greets a connection; it exiting first is a failure, with its log."""
        deadline = time.monotonic() + 30
        assert self._process is not None
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as probe:
                    if probe.recv(4) == b"SSH-":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"sshd did not answer on port {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None


def serve_ssh(root: Path) -> Iterator[SshServer]:
    root.mkdir(parents=True, exist_ok=True)
    server = SshServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
