"""ssh remotes: the host must be in known_hosts with a matching key, and the key
file is offered as credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PermanentError
from reconciler.source.remote import (
    GitCallbacks,
    GitRemote,
    HostKeyRefused,
    Mirror,
    host_in_known_hosts,
    trusting_known_hosts,
)
from tests.conftest import run_async

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDw2wBXm6Yml8NtrC9xE0u9vFsNQbnRtmBM8fVwYhE3y"


def hashed(host: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, host.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.mark.parametrize(
    ("line", "host", "port", "known"),
    [
        (f"git.example.com {KEY}", "git.example.com", 22, True),
        (f"other.example.com,git.example.com {KEY}", "git.example.com", 22, True),
        (f"{hashed('git.example.com')} {KEY}", "git.example.com", 22, True),
        (f"[git.example.com]:2222 {KEY}", "git.example.com", 2222, True),
        (f"{hashed('[git.example.com]:2222')} {KEY}", "git.example.com", 2222, True),
        (f"git.example.com {KEY}", "git.example.com", 2222, False),
        (f"other.example.com {KEY}", "git.example.com", 22, False),
        (f"{hashed('other.example.com')} {KEY}", "git.example.com", 22, False),
        (f"# git.example.com {KEY}", "git.example.com", 22, False),
        (f"@cert-authority git.example.com {KEY}", "git.example.com", 22, False),
    ],
    ids=[
        "plain",
        "one-of-several-names",
        "hashed",
        "bracketed-port",
        "hashed-port",
        "other-port",
        "other-host",
        "hashed-other-host",
        "commented-out",
        "certificate-authority-only",
    ],
)
def test_a_host_is_known_only_when_known_hosts_lists_it(
    tmp_path: Path, line: str, host: str, port: int, known: bool
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(line + "\n")

    assert host_in_known_hosts(known_hosts, host, port) is known


def test_a_revoked_key_makes_a_listed_host_unknown(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"git.example.com {KEY}\n@revoked git.example.com {KEY}\n")

    assert not host_in_known_hosts(known_hosts, "git.example.com")


def callbacks_for(tmp_path: Path, url: str, listed: str) -> GitCallbacks:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{listed} {KEY}\n")
    return GitCallbacks(GitRemote(url, known_hosts=known_hosts))


@pytest.mark.parametrize(
    "url",
    ["ssh://git@unknown.example.com/team/app.git", "git@unknown.example.com:team/app.git"],
    ids=["ssh-url", "scp-like"],
)
def test_an_unknown_ssh_host_is_refused_with_what_to_do(tmp_path: Path, url: str) -> None:
    callbacks = callbacks_for(tmp_path, url, "git.example.com")

    with pytest.raises(HostKeyRefused) as raised:
        callbacks.certificate_check(None, True, b"unknown.example.com")

    message = str(raised.value)
    assert "unknown.example.com is not in" in message
    assert "ssh-keyscan -p 22 unknown.example.com" in message


def test_a_known_ssh_host_whose_key_libgit2_found_wrong_is_refused(tmp_path: Path) -> None:
    callbacks = callbacks_for(tmp_path, "ssh://git@git.example.com/app.git", "git.example.com")

    with pytest.raises(HostKeyRefused) as raised:
        callbacks.certificate_check(None, False, b"git.example.com")

    message = str(raised.value)
    assert f"git.example.com presented a key that does not match {tmp_path}" in message
    assert "check the new one (ssh-keyscan -p 22 git.example.com)" in message


def test_a_known_ssh_host_with_a_matching_key_is_accepted(tmp_path: Path) -> None:
    url = "ssh://git@git.example.com:2222/app.git"
    callbacks = callbacks_for(tmp_path, url, "[git.example.com]:2222")

    assert callbacks.certificate_check(None, True, b"git.example.com") is True


def test_an_https_host_with_an_invalid_certificate_is_refused(tmp_path: Path) -> None:
    callbacks = GitCallbacks(GitRemote("https://git.example.com/app.git", token="t"))

    with pytest.raises(HostKeyRefused, match="TLS certificate"):
        callbacks.certificate_check(None, False, b"git.example.com")
    assert callbacks.certificate_check(None, True, b"git.example.com") is True


def test_the_ssh_key_is_offered_with_the_user_from_the_url(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("private")
    (tmp_path / "id_ed25519.pub").write_text(KEY)
    callbacks = GitCallbacks(GitRemote("ssh://deploy@git.example.com/app.git", ssh_key=key))

    offered = callbacks.credentials(
        "ssh://deploy@git.example.com/app.git", "deploy", pygit2.enums.CredentialType.SSH_KEY
    )

    assert isinstance(offered, pygit2.Keypair)
    assert offered.credential_tuple[0] == "deploy"
    assert offered.credential_tuple[1:3] == (str(key) + ".pub", str(key))


def test_a_refusal_of_the_ssh_host_stops_the_fetch_as_a_permanent_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No ssh server runs here: the host check is driven as libgit2 would drive it.
    def connect_and_check(self: Mirror, repo: object = None) -> str | None:
        GitCallbacks(self.remote).certificate_check(None, True, b"127.0.0.1")
        return None

    monkeypatch.setattr(Mirror, "_remote_head", connect_and_check)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"git.example.com {KEY}\n")
    remote = GitRemote("ssh://git@127.0.0.1:2222/app.git", known_hosts=known_hosts)

    with pytest.raises(PermanentError) as raised:
        run_async(Mirror(remote, tmp_path / "data").fetch())

    assert "refusing to fetch ssh://127.0.0.1:2222/app.git" in str(raised.value)


def libgit2_home() -> str | None:
    return pygit2.option(pygit2.enums.Option.GET_HOMEDIR)


def test_libgit2_reads_a_copy_of_known_hosts_from_its_home_only_while_connecting(
    tmp_path: Path,
) -> None:
    known_hosts = tmp_path / "secret" / "known_hosts"
    known_hosts.parent.mkdir()
    known_hosts.write_text(f"git.example.com {KEY}\n")
    remote = GitRemote("git@git.example.com:team/app.git", known_hosts=known_hosts)
    before = libgit2_home()
    seen: list[str | None] = []

    def connect_and_fail() -> None:
        with trusting_known_hosts(remote, tmp_path / "ssh-home"):
            seen.append(libgit2_home())
            seen.append((tmp_path / "ssh-home" / ".ssh" / "known_hosts").read_text())
            raise RuntimeError("the connection failed")

    with pytest.raises(RuntimeError):
        connect_and_fail()

    assert seen == [str(tmp_path / "ssh-home"), f"git.example.com {KEY}\n"]
    assert libgit2_home() == before


@pytest.mark.parametrize(
    "remote",
    [
        GitRemote("https://git.example.com/app.git", known_hosts=Path("known_hosts")),
        GitRemote("git@git.example.com:team/app.git"),
    ],
    ids=["https", "ssh-without-known-hosts"],
)
def test_libgit2_keeps_its_home_without_an_ssh_known_hosts_file(
    tmp_path: Path, remote: GitRemote
) -> None:
    before = libgit2_home()

    with trusting_known_hosts(remote, tmp_path / "ssh-home"):
        assert libgit2_home() == before
    assert not (tmp_path / "ssh-home").exists()
