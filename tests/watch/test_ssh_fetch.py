"""The mirror fetched over ssh from an OpenSSH server on 127.0.0.1: the host key
is checked against the configured known_hosts file, never against ~/.ssh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PermanentError
from reconciler.model import CommitState, CommitStatus
from reconciler.report.gitnotes import GitNotesStatuses
from reconciler.source.remote import GitRemote, Mirror
from reconciler.source.revert import push_branch
from tests.conftest import run_async
from tests.watch.gitserve import commit_file, git, make_served_repo
from tests.watch.sshserve import SshServer, keygen, serve_ssh


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "served"
    root.mkdir()
    return make_served_repo(root)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    yield from serve_ssh(tmp_path / "sshd")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's home folder, for HOME and for libgit2, which gets its own back after."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    previous = pygit2.option(pygit2.enums.Option.GET_HOMEDIR)
    pygit2.option(pygit2.enums.Option.SET_HOMEDIR, str(home))
    yield home
    pygit2.option(pygit2.enums.Option.SET_HOMEDIR, previous or "")


def another_host_key(tmp_path: Path) -> str:
    """A host key that is not the server's, as ``<type> <key>``."""
    return " ".join(keygen(tmp_path / "other_host_key", "another host").split()[:2])


def write_known_hosts(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def ssh_mirror(sshd: SshServer, bare: Path, tmp_path: Path, known_hosts: Path) -> Mirror:
    remote = GitRemote(sshd.url(bare), ssh_key=sshd.client_key, known_hosts=known_hosts)
    return Mirror(remote, tmp_path / "data")


def test_a_known_host_is_fetched_over_ssh_and_a_later_push_is_seen(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    bare, work = served
    # ~/.ssh holds another key for the host: only the configured file may decide.
    wrong = f"[127.0.0.1]:{sshd.port} {another_host_key(tmp_path)}"
    write_known_hosts(home / ".ssh" / "known_hosts", wrong)
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", sshd.known_hosts_line())
    mirror = ssh_mirror(sshd, bare, tmp_path, known_hosts)

    first = run_async(mirror.fetch())
    pushed = commit_file(work, "README", "two\n", "second")
    git(work, "push", "-q", "origin", "main")
    second = run_async(mirror.fetch())

    assert first.head == git(bare, "rev-parse", "main~1")
    assert (second.previous, second.head, second.fetched) == (first.head, pushed, True)
    assert mirror.files().read_bytes("README") == b"two\n"
    assert pygit2.option(pygit2.enums.Option.GET_HOMEDIR) == str(home)


def test_a_host_presenting_another_key_than_known_hosts_is_refused(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    # ~/.ssh trusts the key the server presents: only the configured file may decide.
    write_known_hosts(home / ".ssh" / "known_hosts", sshd.known_hosts_line())
    listed = f"[127.0.0.1]:{sshd.port} {another_host_key(tmp_path)}"
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", listed)
    mirror = ssh_mirror(sshd, served[0], tmp_path, known_hosts)

    with pytest.raises(PermanentError) as raised:
        run_async(mirror.fetch())

    message = str(raised.value)
    host = f"[127.0.0.1]:{sshd.port}"
    assert f"ssh host {host} presented a key that does not match {known_hosts}" in message
    assert mirror.local_head() is None


def test_a_changed_known_hosts_file_is_read_again_on_the_next_fetch(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    bare, work = served
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", sshd.known_hosts_line())
    mirror = ssh_mirror(sshd, bare, tmp_path, known_hosts)
    first = run_async(mirror.fetch()).head

    write_known_hosts(known_hosts, f"[127.0.0.1]:{sshd.port} {another_host_key(tmp_path)}")
    commit_file(work, "README", "two\n", "second")
    git(work, "push", "-q", "origin", "main")

    with pytest.raises(PermanentError, match="presented a key that does not match"):
        run_async(mirror.fetch())
    assert mirror.local_head() == first


def test_a_host_missing_from_known_hosts_is_refused_with_what_to_do(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    write_known_hosts(home / ".ssh" / "known_hosts", sshd.known_hosts_line())
    # The right key, but for port 22: OpenSSH would not use it for another port.
    _, key = sshd.known_hosts_line().split(" ", 1)
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", f"127.0.0.1 {key}")
    mirror = ssh_mirror(sshd, served[0], tmp_path, known_hosts)

    with pytest.raises(PermanentError) as raised:
        run_async(mirror.fetch())

    message = str(raised.value)
    assert f"ssh host [127.0.0.1]:{sshd.port} is not in {known_hosts}" in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known_hosts}" in message


def test_a_key_the_server_does_not_authorize_is_refused_and_not_shown(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", sshd.known_hosts_line())
    key = tmp_path / "secret" / "id_ed25519"
    keygen(key, "not authorized", passphrase="pass-phrase-456")
    remote = GitRemote(
        sshd.url(served[0]),
        ssh_key=key,
        ssh_passphrase="pass-phrase-456",
        known_hosts=known_hosts,
    )

    with pytest.raises(PermanentError) as raised:
        run_async(Mirror(remote, tmp_path / "data").fetch())

    message = str(raised.value)
    assert f"ssh://127.0.0.1:{sshd.port}{served[0]} refused the ssh key {key}" in message
    assert "pass-phrase-456" not in message
    assert key.read_text().splitlines()[1] not in message


def test_statuses_and_a_revert_branch_are_pushed_over_ssh_trusting_the_same_file(
    sshd: SshServer, served: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    bare, _ = served
    # ~/.ssh is empty: only the configured file vouches for the host.
    known_hosts = write_known_hosts(tmp_path / "secret" / "known_hosts", sshd.known_hosts_line())
    mirror = ssh_mirror(sshd, bare, tmp_path, known_hosts)
    head = run_async(mirror.fetch()).head
    repo = pygit2.Repository(str(mirror.path))

    notes = GitNotesStatuses(str(mirror.path), access=mirror.remote)
    run_async(notes.post(CommitStatus(head, "ecs/api", CommitState.SUCCESS, "Rolled out")))
    env = {"GIT_SSH_KEY_FILE": str(sshd.client_key), "GIT_SSH_KNOWN_HOSTS_FILE": str(known_hosts)}
    pushed = push_branch(repo, "main", "reconciler/revert-test", env=env)

    assert git(bare, "notes", "--ref=ecs-status", "show", head).strip() != ""
    assert pushed.accepted, pushed.refused
    assert git(bare, "rev-parse", "reconciler/revert-test") == head
