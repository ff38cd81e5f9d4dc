"""The mirror of the watched repository, fetched over git://, http, file:// and a
local path from servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PermanentError, Reason, TransientError
from reconciler.source import GitFiles
from reconciler.source.remote import GitRemote, Mirror, mirror_path, redact_url
from tests.conftest import run_async
from tests.watch.gitserve import (
    GitDaemon,
    SmartHttp,
    commit_file,
    git,
    make_served_repo,
    serve_git_daemon,
)


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "served"
    root.mkdir()
    return make_served_repo(root)


@pytest.fixture
def daemon(served: tuple[Path, Path]) -> Iterator[GitDaemon]:
    yield from serve_git_daemon(served[0].parent)


def test_a_first_fetch_clones_the_branch_and_files_read_it(
    daemon: GitDaemon, served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served
    mirror = Mirror(GitRemote(daemon.url("app.git")), tmp_path / "data")

    result = run_async(mirror.fetch())

    assert result.previous is None
    assert result.head == git(work, "rev-parse", "HEAD")
    assert result.fetched
    assert result.changed
    assert pygit2.Repository(str(mirror.path)).is_bare
    assert GitFiles(mirror.path, result.head).read_bytes("README") == b"one\n"
    assert mirror.files().revision == result.head


def test_a_pushed_commit_is_seen_by_the_head_check_then_fetched(
    daemon: GitDaemon, served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served
    mirror = Mirror(GitRemote(daemon.url("app.git")), tmp_path / "data")
    first = run_async(mirror.fetch()).head

    pushed = commit_file(work, "README", "two\n", "second")
    git(work, "push", "-q", daemon.url("app.git"), "main")

    assert run_async(mirror.remote_head()) == pushed
    assert mirror.local_head() == first
    result = run_async(mirror.fetch())
    assert (result.previous, result.head, result.fetched) == (first, pushed, True)
    assert mirror.files(pushed).read_bytes("README") == b"two\n"


def test_an_unchanged_remote_is_not_fetched_again(daemon: GitDaemon, tmp_path: Path) -> None:
    mirror = Mirror(GitRemote(daemon.url("app.git")), tmp_path / "data")
    head = run_async(mirror.fetch()).head

    again = run_async(mirror.fetch())

    assert (again.head, again.previous, again.fetched, again.changed) == (head, head, False, False)


def test_a_force_push_moves_the_mirror_and_the_old_revision_stays_readable(
    daemon: GitDaemon, served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served
    mirror = Mirror(GitRemote(daemon.url("app.git")), tmp_path / "data")
    base = run_async(mirror.fetch()).head
    dropped = commit_file(work, "README", "two\n", "to be rewritten")
    git(work, "push", "-q", daemon.url("app.git"), "main")
    run_async(mirror.fetch())

    git(work, "reset", "-q", "--hard", base)
    rewritten = commit_file(work, "README", "three\n", "rewritten")
    git(work, "push", "-q", "--force", daemon.url("app.git"), "main")
    result = run_async(mirror.fetch())

    assert (result.previous, result.head) == (dropped, rewritten)
    assert mirror.files().read_bytes("README") == b"three\n"
    assert mirror.files(dropped).read_bytes("README") == b"two\n"


def test_an_unreachable_remote_is_transient_and_names_the_url_then_recovers(
    served: tuple[Path, Path], tmp_path: Path
) -> None:
    base, work = served
    daemon = GitDaemon(base.parent)
    daemon.start()
    mirror = Mirror(GitRemote(daemon.url("app.git")), tmp_path / "data")
    try:
        first = run_async(mirror.fetch()).head
    finally:
        daemon.stop()
    pushed = commit_file(work, "README", "two\n", "while down")
    git(work, "push", "-q", "origin", "main")

    with pytest.raises(TransientError) as raised:
        run_async(mirror.fetch())
    assert raised.value.reason is Reason.SOURCE_UNREACHABLE
    assert daemon.url("app.git") in str(raised.value)
    assert "check the URL, the network" in str(raised.value)
    assert mirror.local_head() == first

    back = GitDaemon(base.parent, port=daemon.port)
    back.start()
    try:
        result = run_async(mirror.fetch())
    finally:
        back.stop()
    assert (result.previous, result.head) == (first, pushed)


def test_a_missing_branch_is_a_permanent_error_naming_it(daemon: GitDaemon, tmp_path: Path) -> None:
    mirror = Mirror(GitRemote(daemon.url("app.git"), branch="release"), tmp_path / "data")

    with pytest.raises(PermanentError, match="has no branch 'release'; check --branch"):
        run_async(mirror.fetch())


@pytest.mark.parametrize("form", ["file-url", "local-path"])
def test_a_repository_on_this_machine_is_mirrored_from_its_path(
    served: tuple[Path, Path], tmp_path: Path, form: str
) -> None:
    base, work = served
    url = base.as_uri() if form == "file-url" else str(base)
    remote = GitRemote(url)
    mirror = Mirror(remote, tmp_path / "data")

    first = run_async(mirror.fetch())
    pushed = commit_file(work, "README", "two\n", "second")
    git(work, "push", "-q", "origin", "main")
    second = run_async(mirror.fetch())

    assert remote.local_path == base
    assert first.head == git(base, "rev-parse", "main~1")
    assert (second.previous, second.head) == (first.head, pushed)


def test_a_non_bare_local_working_copy_is_mirrored_too(
    served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served
    mirror = Mirror(GitRemote(str(work)), tmp_path / "data")

    assert run_async(mirror.fetch()).head == git(work, "rev-parse", "HEAD")


def test_mirrors_of_different_urls_do_not_share_a_folder(tmp_path: Path) -> None:
    one = mirror_path(tmp_path, "https://example.com/team/app.git")
    other = mirror_path(tmp_path, "https://example.com/other/app.git")

    assert one != other
    assert one.name.startswith("app-")
    assert one.suffix == ".git"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:s3cr3t@example.com/a.git", "https://example.com/a.git"),
        ("https://example.com/a.git", "https://example.com/a.git"),
        ("git@example.com:team/a.git", "git@example.com:team/a.git"),
    ],
    ids=["token-in-url", "plain", "scp-like"],
)
def test_urls_in_messages_carry_no_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_remote_shown_in_logs_carries_no_secret() -> None:
    remote = GitRemote("https://example.com/a.git", token="tok-123", ssh_passphrase="pass-456")

    assert "tok-123" not in repr(remote)
    assert "pass-456" not in repr(remote)


@pytest.fixture
def smart_http(served: tuple[Path, Path]) -> SmartHttp:
    return SmartHttp(served[0].parent, "x-access-token", "good-token")


def test_a_token_is_sent_over_https_as_basic_auth(
    smart_http: SmartHttp, served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served

    async def fetch() -> str:
        await smart_http.start()
        try:
            remote = GitRemote(smart_http.url("app.git"), token="good-token")
            return (await Mirror(remote, tmp_path / "data").fetch()).head
        finally:
            await smart_http.stop()

    assert run_async(fetch()) == git(work, "rev-parse", "HEAD")
    assert ("x-access-token", "good-token") in smart_http.seen


@pytest.mark.parametrize("token", ["bad-token", None], ids=["wrong-token", "no-token"])
def test_a_refused_or_missing_token_is_permanent_and_never_shown(
    smart_http: SmartHttp, tmp_path: Path, token: str | None
) -> None:
    async def fetch() -> None:
        await smart_http.start()
        try:
            remote = GitRemote(smart_http.url("app.git"), token=token, token_username="oauth2")
            await Mirror(remote, tmp_path / "data").fetch()
        finally:
            await smart_http.stop()

    with pytest.raises(PermanentError) as raised:
        run_async(fetch())

    message = str(raised.value)
    assert smart_http.url("app.git") in message
    assert "bad-token" not in message
    assert ("refused the credentials" if token else "asks for credentials") in message
    assert smart_http.seen == ([("oauth2", "bad-token")] if token else [])


def test_an_unchanged_https_remote_costs_one_ref_listing_and_no_pack(
    smart_http: SmartHttp, served: tuple[Path, Path], tmp_path: Path
) -> None:
    _, work = served

    async def fetch_twice_then_after_a_push() -> tuple[list[str], list[str]]:
        await smart_http.start()
        try:
            mirror = Mirror(GitRemote(smart_http.url("app.git"), token="good-token"), tmp_path)
            await mirror.fetch()
            smart_http.requests.clear()
            await mirror.fetch()
            unchanged, smart_http.requests[:] = list(smart_http.requests), []
            await asyncio.to_thread(commit_file, work, "README", "two\n", "second")
            await asyncio.to_thread(git, work, "push", "-q", "origin", "main")
            await mirror.fetch()
            return unchanged, list(smart_http.requests)
        finally:
            await smart_http.stop()

    unchanged, changed = run_async(fetch_twice_then_after_a_push())

    # Each connection is asked for credentials once (401, then the token).
    assert set(unchanged) == {"GET /app.git/info/refs"}
    assert "POST /app.git/git-upload-pack" in changed
