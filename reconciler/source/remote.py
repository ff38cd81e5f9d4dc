"""A local mirror of the watched repository, kept current with pygit2.

The loop never reads the remote directly: it fetches the watched branch into a
bare repository under the data folder and reads revisions from there with
:class:`reconciler.source.GitFiles`. Any URL git itself takes works: https
(with a token), ssh (a key, and the host and its key checked against
known_hosts), git://, ``file://`` and a plain local path.

Before fetching, :meth:`Mirror.fetch` asks the remote for its heads (one round
trip, no objects), so an unchanged remote costs one connection. The local
branch is moved to whatever the remote says, forced: a force-push or rewritten
history is followed, and the revisions it dropped stay readable for as long as
their objects are in the mirror.

Every pygit2 network call runs in a worker thread (``asyncio.to_thread``).
Failures are sorted by whether waiting helps: an unreachable remote is a
:class:`~reconciler.errors.TransientError`; refused credentials or an unknown
ssh host are a :class:`~reconciler.errors.PermanentError`. Messages name the
URL without its credentials, and never the token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pygit2

from reconciler.errors import PermanentError, Reason, TransientError
from reconciler.source.files import GitFiles

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?!//)(?P<path>.+)$")


@dataclass(frozen=True, slots=True)
class GitRemote:
    """Where the watched repository lives, and how to authenticate to it."""

    url: str
    branch: str = "main"
    # Secrets stay out of the repr, so logging a remote never shows them.
    token: str | None = field(default=None, repr=False)
    token_username: str = "x-access-token"
    """``x-access-token`` for GitHub, ``oauth2`` for GitLab; Gitea takes any name."""
    ssh_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    """The ssh hosts trusted; ``~/.ssh/known_hosts`` when not given."""

    @property
    def local_path(self) -> Path | None:
        """The repository folder when the remote is on this machine, else ``None``."""
        if self.url.startswith("file://"):
            return Path(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path))
        if "://" in self.url or (_SCP_LIKE.match(self.url) and not Path(self.url).exists()):
            return None
        return Path(self.url)

    @property
    def is_ssh(self) -> bool:
        scheme = urllib.parse.urlsplit(self.url).scheme
        if scheme:
            return scheme in ("ssh", "git+ssh", "ssh+git")
        return self.local_path is None and _SCP_LIKE.match(self.url) is not None

    @property
    def display_url(self) -> str:
        """The URL without any user or password in it, fit for logs and messages."""
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetch found: the branch head now, and before the fetch."""

    head: str
    previous: str | None
    fetched: bool
    """Whether objects were fetched; ``False`` when the cheap head check saw no change."""
    seconds: float = 0.0
    """How long the head check and the fetch took, for the fetch duration metric."""

    @property
    def changed(self) -> bool:
        return self.head != self.previous


def redact_url(url: str) -> str:
    """``url`` with any user and password taken out."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urllib.parse.urlunsplit(parts._replace(netloc=host))
    return url


def mirror_path(data_dir: Path, url: str) -> Path:
    """The mirror's folder for ``url``: readable, and distinct per URL."""
    display = redact_url(url).rstrip("/")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", display.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    name = name.removesuffix(".git").strip("-.") or "repo"
    digest = hashlib.sha256(display.encode()).hexdigest()[:12]
    return data_dir / "mirrors" / f"{name}-{digest}.git"


class _CredentialsRefused(Exception):
    """The remote asked again after our credentials: it refused them."""


class _NoCredentials(Exception):
    """The remote asked for a kind of credential we were not given."""

    def __init__(self, allowed: pygit2.enums.CredentialType) -> None:
        super().__init__(str(allowed))
        self.allowed = allowed


class HostKeyRefused(Exception):
    """The ssh host is not in known_hosts, or its key does not match."""


def _ssh_port(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    return parts.port or 22 if parts.scheme else 22


def _known_hosts_name(host: str, port: int = 22) -> str:
    """How known_hosts names ``host``: bracketed with the port unless it is 22."""
    return host if port == 22 else f"[{host}]:{port}"


def host_in_known_hosts(known_hosts: Path, host: str, port: int = 22) -> bool:
    """Whether ``known_hosts`` lists ``host`` (plain or hashed, as OpenSSH writes it).

    A host marked ``@revoked`` is never known.
    """
    names = {_known_hosts_name(host, port)}
    listed = False
    for raw in known_hosts.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if not fields or not any(_host_matches(p, names) for p in fields[0].split(",")):
            continue
        if marker == "@revoked":
            return False
        # A certificate authority line vouches for keys libgit2 cannot check.
        if marker is None:
            listed = True
    return listed


def _host_matches(pattern: str, names: set[str]) -> bool:
    if pattern.startswith("|1|"):
        try:
            _, _, salt, hashed = pattern.split("|")
            key, expected = base64.b64decode(salt), base64.b64decode(hashed)
        except ValueError:
            return False
        return any(
            hmac.compare_digest(hmac.new(key, n.encode(), hashlib.sha1).digest(), expected)
            for n in names
        )
    return pattern in names


# libgit2's home folder is one setting for the whole process.
_LIBGIT2_HOME = threading.Lock()


@contextmanager
def trusting_known_hosts(remote: GitRemote, home: Path) -> Iterator[None]:
    """While open, libgit2 checks ssh host keys against ``remote.known_hosts``.

    libgit2 compares the key an ssh host presents only with
    ``<its home folder>/.ssh/known_hosts``, and pygit2 does not show the key to
    :class:`GitCallbacks`. So the configured file is copied to
    ``home/.ssh/known_hosts`` (afresh each time: a mounted secret may change)
    and libgit2's home folder is ``home`` until the block ends. That setting is
    process-wide: connections made in such blocks take turns, and libgit2 calls
    in other threads meanwhile expand ``~`` in git config paths to ``home``.
    Without ``known_hosts`` (or for other URLs) nothing changes:
    ``~/.ssh/known_hosts`` is what both read.
    """
    known_hosts = remote.known_hosts
    if not remote.is_ssh or known_hosts is None:
        yield
        return
    copy = home / ".ssh" / "known_hosts"
    with _LIBGIT2_HOME:
        copy.parent.mkdir(parents=True, exist_ok=True)
        # A missing file trusts no host; GitCallbacks says where it was expected.
        copy.write_bytes(known_hosts.read_bytes() if known_hosts.is_file() else b"")
        previous = pygit2.option(pygit2.enums.Option.GET_HOMEDIR)
        pygit2.option(pygit2.enums.Option.SET_HOMEDIR, os.fspath(home))
        try:
            yield
        finally:
            pygit2.option(pygit2.enums.Option.SET_HOMEDIR, previous or "")


class GitCallbacks(pygit2.RemoteCallbacks):
    """Credentials and the host check for one connection to ``remote``.

    For ssh, connect inside :func:`trusting_known_hosts`, so that libgit2 checks
    the host key against ``remote.known_hosts``.

    Raises from inside libgit2's callbacks; pygit2 re-raises the exception from
    the network call, where :class:`Mirror` turns it into the project's errors.
    """

    def __init__(self, remote: GitRemote) -> None:
        super().__init__()
        self._remote = remote
        self.asked = 0

    def credentials(
        self,
        url: str,
        username_from_url: str | None,
        allowed_types: pygit2.enums.CredentialType,
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        # libgit2 asks again when the server refused what we gave: stop there
        # rather than replaying the same credentials until it gives up.
        self.asked += 1
        if self.asked > 1:
            raise _CredentialsRefused()
        kinds = pygit2.enums.CredentialType
        remote = self._remote
        if allowed_types & kinds.USERPASS_PLAINTEXT and remote.token:
            return pygit2.UserPass(remote.token_username, remote.token)
        if allowed_types & kinds.SSH_KEY and remote.ssh_key is not None:
            public = remote.ssh_public_key or Path(f"{remote.ssh_key}.pub")
            return pygit2.Keypair(
                username_from_url or "git",
                os.fspath(public) if public.exists() else None,
                os.fspath(remote.ssh_key),
                remote.ssh_passphrase or "",
            )
        if allowed_types & kinds.USERNAME:
            return pygit2.Username(username_from_url or "git")
        raise _NoCredentials(allowed_types)

    def certificate_check(self, certificate: None, valid: bool, host: bytes | str) -> bool:
        hostname = host.decode() if isinstance(host, bytes) else host
        if not self._remote.is_ssh:
            # TLS: libgit2 has verified the chain against the system's CAs.
            if not valid:
                raise HostKeyRefused(f"the TLS certificate of {hostname} is not valid")
            return True
        known_hosts = self._remote.known_hosts or Path.home() / ".ssh" / "known_hosts"
        port = _ssh_port(self._remote.url)
        name = _known_hosts_name(hostname, port)
        scan = f"ssh-keyscan -p {port} {hostname}"
        # libgit2 is laxer: it takes a line for the bare host name as a line for
        # any port. The host must be listed as OpenSSH would look it up.
        if not known_hosts.is_file() or not host_in_known_hosts(known_hosts, hostname, port):
            raise HostKeyRefused(
                f"ssh host {name} is not in {known_hosts}; add its key "
                f"({scan} >> {known_hosts}) after checking it"
            )
        # `valid` is libgit2's comparison of the presented key with the file in
        # its home folder: a copy of known_hosts inside trusting_known_hosts.
        if not valid:
            raise HostKeyRefused(
                f"ssh host {name} presented a key that does not match {known_hosts}; "
                f"if the host key changed on purpose, check the new one ({scan}) "
                "and replace the host's line there"
            )
        return True


class PushCallbacks(GitCallbacks):
    """Credentials and the host check as for fetching, and what the remote said
    about each ref pushed (a hook's refusal, a non-fast-forward)."""

    def __init__(self, remote: GitRemote) -> None:
        super().__init__(remote)
        self.refused: dict[str, str] = {}

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.refused[refname] = message


def ssh_home(repo: pygit2.Repository) -> Path:
    """Where :func:`trusting_known_hosts` keeps its copy for pushes from ``repo``."""
    return Path(repo.path) / "ssh-home"


class Mirror:
    """A bare mirror of one branch of a remote repository, under ``data_dir``."""

    def __init__(self, remote: GitRemote, data_dir: Path) -> None:
        self.remote = remote
        self.path = mirror_path(Path(data_dir), remote.url)
        # Where libgit2 finds a copy of remote.known_hosts (the data folder is
        # writable where the root filesystem is not).
        self._ssh_home = Path(data_dir) / "ssh-home"
        self._ref = f"refs/heads/{remote.branch}"
        self._lock = asyncio.Lock()

    def files(self, revision: str | None = None) -> GitFiles:
        """The mirror's files at ``revision`` (default: the branch head)."""
        return GitFiles(self.path, revision or self._ref)

    def local_head(self) -> str | None:
        """The branch head as last fetched; ``None`` before the first fetch."""
        if not (self.path / "HEAD").exists():
            return None
        return self._local_head(pygit2.Repository(os.fspath(self.path)))

    async def remote_head(self) -> str | None:
        """The branch head the remote advertises now (one round trip, no objects);
        ``None`` when the remote has no such branch."""
        async with self._lock:
            return await asyncio.to_thread(self._run, self._remote_head)

    async def fetch(self) -> FetchResult:
        """Bring the branch up to date with the remote, following force-pushes.

        Raises :class:`TransientError` when the remote cannot be reached and
        :class:`PermanentError` when it refuses the credentials, the ssh host is
        unknown, or the branch does not exist there.
        """
        async with self._lock:
            return await asyncio.to_thread(self._run, self._fetch)

    def _run(self, step: Callable[[], T]) -> T:
        try:
            return step()
        except _CredentialsRefused as exc:
            raise PermanentError(Reason.SOURCE_UNREACHABLE, self._refusal()) from exc
        except _NoCredentials as exc:
            raise PermanentError(
                Reason.SOURCE_UNREACHABLE,
                f"{self.remote.display_url} asks for credentials ({exc.allowed!r}) that were "
                "not given; pass a token for https or an ssh key for ssh",
            ) from exc
        except HostKeyRefused as exc:
            raise PermanentError(
                Reason.SOURCE_UNREACHABLE,
                f"refusing to fetch {self.remote.display_url}: {exc}",
            ) from exc
        except (pygit2.GitError, OSError) as exc:
            raise TransientError(
                Reason.SOURCE_UNREACHABLE,
                f"cannot reach {self.remote.display_url}: {self._redact(str(exc))}; check the "
                "URL, the network and that the git server is up (retrying)",
            ) from exc

    def _refusal(self) -> str:
        """What the remote refused, named without the secret itself."""
        key = self.remote.ssh_key
        if self.remote.is_ssh and key is not None:
            return (
                f"{self.remote.display_url} refused the ssh key {key}; check that its "
                "public key may read the repository (a deploy key, or the user's authorized keys)"
            )
        return (
            f"{self.remote.display_url} refused the credentials; check that the "
            "token (or ssh key) is valid and may read the repository"
        )

    def _redact(self, text: str) -> str:
        text = text.replace(self.remote.url, self.remote.display_url)
        in_url = urllib.parse.urlsplit(self.remote.url).password
        for secret in (self.remote.token, self.remote.ssh_passphrase, in_url):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _open(self) -> pygit2.Repository:
        if (self.path / "HEAD").exists():
            repo = pygit2.Repository(os.fspath(self.path))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repo = pygit2.init_repository(os.fspath(self.path), bare=True)
        # HEAD names the watched branch, so "HEAD" reads what was fetched; the
        # branch may have changed since the mirror was made.
        head = repo.references.get("HEAD")
        if head is None or head.target != self._ref:
            repo.references.create("HEAD", self._ref, force=True)
        url = self._remote_url()
        if "origin" not in repo.remotes.names():
            repo.remotes.create("origin", url, f"+{self._ref}:{self._ref}")
        elif repo.remotes["origin"].url != url:
            repo.remotes.set_url("origin", url)
        return repo

    def _remote_url(self) -> str:
        local = self.remote.local_path
        if local is not None and not self.remote.url.startswith("file://"):
            # A relative path would be read from the worker's current folder.
            return os.fspath(local.resolve())
        return self.remote.url

    def _local_head(self, repo: pygit2.Repository) -> str | None:
        reference = repo.references.get(self._ref)
        return str(reference.target) if reference is not None else None

    def _remote_head(self, repo: pygit2.Repository | None = None) -> str | None:
        repo = repo or self._open()
        with trusting_known_hosts(self.remote, self._ssh_home):
            heads = repo.remotes["origin"].list_heads(callbacks=GitCallbacks(self.remote))
        for head in heads:
            if head.name == self._ref:
                return str(head.oid)
        return None

    def _fetch(self) -> FetchResult:
        repo = self._open()
        previous = self._local_head(repo)
        started = time.monotonic()
        advertised = self._remote_head(repo)
        if advertised is None:
            raise PermanentError(
                Reason.SOURCE_UNREACHABLE,
                f"{self.remote.display_url} has no branch {self.remote.branch!r}; "
                "check --branch, or push the branch",
            )
        if advertised == previous:
            log.debug("remote head unchanged", extra={"url": self.remote.display_url})
            return FetchResult(
                head=advertised,
                previous=previous,
                fetched=False,
                seconds=time.monotonic() - started,
            )

        # The "+" refspec moves the branch even when history was rewritten.
        remote = repo.remotes["origin"]
        with trusting_known_hosts(self.remote, self._ssh_home):
            remote.fetch([f"+{self._ref}:{self._ref}"], callbacks=GitCallbacks(self.remote))
        head = self._local_head(repo)
        if head is None:
            raise TransientError(
                Reason.SOURCE_UNREACHABLE,
                f"fetching {self.remote.display_url} did not bring branch "
                f"{self.remote.branch!r}; it may have been deleted meanwhile (retrying)",
            )
        log.info(
            "fetched %s %s: %s -> %s",
            self.remote.display_url,
            self.remote.branch,
            previous,
            head,
            extra={"duration": round(time.monotonic() - started, 3)},
        )
        return FetchResult(
            head=head, previous=previous, fetched=True, seconds=time.monotonic() - started
        )
