"""Commit statuses as git notes in the watched repository: needs no host at all.

Each commit's note under ``refs/notes/ecs-status`` is a JSON document of its
statuses by context, so ``git log --notes=ecs-status`` shows them next to the
commits. Writers never lose each other's statuses:

- in one repository, a write re-reads the notes ref, merges its status in and
  moves the ref only if it still points where it was read (compare-and-swap
  under the ref's lock), starting over when another writer got there first;
- across clones, a push the remote rejects as not a fast-forward fetches the
  remote's notes, merges them (the newer status wins per context) and pushes
  again. A remote that refuses the push (a hook, no permission) leaves the
  notes in the local repository, said once in the log.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pygit2

from reconciler.model import CommitState, CommitStatus
from reconciler.report.delivery import ReportRejected, ReportUnavailable
from reconciler.report.statuses import state_named
from reconciler.source.remote import (
    GitCallbacks,
    GitRemote,
    PushCallbacks,
    ssh_home,
    trusting_known_hosts,
)

log = logging.getLogger(__name__)

NOTES_REF = "refs/notes/ecs-status"
SWAP_ATTEMPTS = 50
SIGNATURE_NAME = "ecs-gitops-reconciler"
SIGNATURE_EMAIL = "reconciler@localhost"

Document = dict[str, dict[str, Any]]


class _RefMoved(Exception):
    """The notes ref moved between reading and swapping: read again."""


def _is_not_fast_forward(message: str) -> bool:
    text = message.lower()
    # libgit2 and git daemon word it differently; all mean "the remote moved on".
    markers = ("fast-forward", "fastforward", "fetch first", "not present locally")
    return any(marker in text for marker in markers)


class GitNotesStatuses:
    """Statuses as notes on the commits of ``repo_path``, pushed to ``remote`` if it allows.

    ``remote`` None keeps notes local. ``access`` says how to authenticate to it
    (the token or ssh key and known_hosts the source fetches with); without it,
    the push goes without credentials, which a ``git://`` or local remote takes.
    """

    name = "gitnotes"

    def __init__(
        self,
        repo_path: str,
        *,
        notes_ref: str = NOTES_REF,
        remote: str | None = "origin",
        access: GitRemote | None = None,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        if not notes_ref.startswith("refs/notes/"):
            notes_ref = f"refs/notes/{notes_ref}"
        self.repo_path = repo_path
        self.notes_ref = notes_ref
        self.remote = remote
        self._access = access
        self._wall_time = wall_time
        self._lock = threading.Lock()
        self._refusal_logged = False
        self._remote_ref = f"refs/reconciler/remote-notes/{notes_ref.removeprefix('refs/notes/')}"

    def nearest_state(self, state: CommitState) -> CommitState:
        return state

    async def post(self, status: CommitStatus) -> None:
        await asyncio.to_thread(self._post, status)

    async def statuses(self, revision: str) -> list[CommitStatus]:
        document = await asyncio.to_thread(self._read_current, revision)
        return [status_from_entry(revision, context, e) for context, e in document.items()]

    async def close(self) -> None:
        return None

    # The rest runs in a worker thread: pygit2 blocks.

    def _open(self) -> pygit2.Repository:
        try:
            return pygit2.Repository(self.repo_path)
        except pygit2.GitError as e:
            raise ReportRejected(
                f"git notes: {self.repo_path} is not a git repository ({e}); "
                "point the gitnotes provider at the watched repository"
            ) from e

    def _read_current(self, revision: str) -> Document:
        repo = self._open()
        return read_document(repo, notes_head(repo, self.notes_ref), revision)

    def _post(self, status: CommitStatus) -> None:
        with self._lock:
            repo = self._open()
            entry = {
                "state": str(status.state),
                "description": status.description,
                "target_url": status.target_url,
                "updated_at": self._timestamp(),
            }
            self._write(repo, status.revision, {status.context: entry})
            if self.remote is not None:
                self._push(repo)

    def _timestamp(self) -> str:
        moment = datetime.datetime.fromtimestamp(self._wall_time(), tz=datetime.UTC)
        return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")

    def _write(self, repo: pygit2.Repository, revision: str, entries: Document) -> None:
        for attempt in range(SWAP_ATTEMPTS):
            base = notes_head(repo, self.notes_ref)
            document = read_document(repo, base, revision)
            document.update(entries)
            commit = self._commit_document(repo, base, revision, document)
            try:
                swap_ref(repo, self.notes_ref, base, commit)
                return
            except _RefMoved:
                # Give the writer holding the ref's lock a moment to finish.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ReportUnavailable(
            f"git notes: {self.notes_ref} in {self.repo_path} kept moving under "
            f"{SWAP_ATTEMPTS} attempts to write; too many writers at once"
        )

    def _commit_document(
        self, repo: pygit2.Repository, base: pygit2.Oid | None, revision: str, document: Document
    ) -> pygit2.Oid:
        builder = repo.TreeBuilder(tree_of(repo, base)) if base is not None else repo.TreeBuilder()
        blob = repo.create_blob(json.dumps(document, indent=2, sort_keys=True) + "\n")
        builder.insert(revision, blob, pygit2.GIT_FILEMODE_BLOB)
        signature = pygit2.Signature(SIGNATURE_NAME, SIGNATURE_EMAIL)
        parents = [base] if base is not None else []
        return repo.create_commit(
            None, signature, signature, f"Statuses for {revision}", builder.write(), parents
        )

    def _push(self, repo: pygit2.Repository) -> None:
        try:
            remote = repo.remotes[str(self.remote)]
        except (KeyError, ValueError):
            self._refused(f"the repository has no remote {self.remote!r}")
            return
        refused = self._push_once(repo, remote)
        if refused and _is_not_fast_forward(refused):
            # Another clone pushed first: take its statuses in, then push again.
            self._merge_remote(repo, remote)
            refused = self._push_once(repo, remote)
        if refused:
            self._refused(refused)

    def _remote_access(self, remote: pygit2.Remote) -> GitRemote:
        return self._access or GitRemote(str(remote.url))

    def _push_once(self, repo: pygit2.Repository, remote: pygit2.Remote) -> str | None:
        access = self._remote_access(remote)
        outcome = PushCallbacks(access)
        try:
            with trusting_known_hosts(access, ssh_home(repo)):
                remote.push([f"{self.notes_ref}:{self.notes_ref}"], callbacks=outcome)
        except Exception as e:  # a GitError, or what the callbacks raised through libgit2
            return str(e) or type(e).__name__
        return outcome.refused.get(self.notes_ref)

    def _merge_remote(self, repo: pygit2.Repository, remote: pygit2.Remote) -> None:
        access = self._remote_access(remote)
        try:
            with trusting_known_hosts(access, ssh_home(repo)):
                remote.fetch(
                    [f"+{self.notes_ref}:{self._remote_ref}"], callbacks=GitCallbacks(access)
                )
        except Exception as e:  # a GitError, or what the callbacks raised through libgit2
            log.warning("git notes: fetching the remote's notes failed", extra={"cause": str(e)})
            return
        theirs = notes_head(repo, self._remote_ref)
        if theirs is None:
            return
        for _ in range(SWAP_ATTEMPTS):
            ours = notes_head(repo, self.notes_ref)
            commit = merge_notes(repo, ours, theirs)
            try:
                swap_ref(repo, self.notes_ref, ours, commit)
                return
            except _RefMoved:
                continue

    def _refused(self, why: str) -> None:
        if not self._refusal_logged:
            self._refusal_logged = True
            log.warning(
                "git notes kept locally: the remote refused them (%s); "
                "statuses stay readable in this repository",
                why,
                extra={"remote": self.remote, "ref": self.notes_ref, "cause": why},
            )


def notes_head(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    reference = repo.references.get(ref)
    if reference is None:
        return None
    target = reference.target
    return target if isinstance(target, pygit2.Oid) else None


def tree_of(repo: pygit2.Repository, commit: pygit2.Oid) -> pygit2.Tree:
    return repo[commit].peel(pygit2.Tree)


def read_document(
    repo: pygit2.Repository, notes_commit: pygit2.Oid | None, revision: str
) -> Document:
    """The statuses noted on ``revision`` as of ``notes_commit`` (git's fanout too)."""
    if notes_commit is None:
        return {}
    tree = tree_of(repo, notes_commit)
    for path in (revision, f"{revision[:2]}/{revision[2:]}"):
        try:
            blob = repo[tree[path].id].peel(pygit2.Blob)
        except KeyError:
            continue
        try:
            document = json.loads(blob.data)
        except ValueError:
            log.warning("git notes: unreadable note replaced", extra={"revision": revision})
            return {}
        return document if isinstance(document, dict) else {}
    return {}


def swap_ref(
    repo: pygit2.Repository, ref: str, expected: pygit2.Oid | None, target: pygit2.Oid
) -> None:
    """Point ``ref`` at ``target`` only if it still points at ``expected``."""
    try:
        with repo.transaction() as transaction:
            transaction.lock_ref(ref)
            # Read under the lock: what another writer swapped in is visible now.
            if notes_head(repo, ref) != expected:
                raise _RefMoved
            transaction.set_target(ref, target, message="reconciler: commit statuses")
    except pygit2.GitError as e:
        # Another process holds the ref's lock: it is mid-swap, so read again.
        raise _RefMoved from e


def merge_notes(repo: pygit2.Repository, ours: pygit2.Oid | None, theirs: pygit2.Oid) -> pygit2.Oid:
    """A notes commit with both histories as parents; per context, the newer status wins."""
    theirs_tree = tree_of(repo, theirs)
    builder = repo.TreeBuilder(tree_of(repo, ours)) if ours else repo.TreeBuilder()
    for revision in note_targets(theirs_tree):
        mine = read_document(repo, ours, revision)
        other = read_document(repo, theirs, revision)
        merged = dict(mine)
        for context, entry in other.items():
            if context not in merged or str(entry.get("updated_at", "")) > str(
                merged[context].get("updated_at", "")
            ):
                merged[context] = entry
        if merged != mine:
            blob = repo.create_blob(json.dumps(merged, indent=2, sort_keys=True) + "\n")
            builder.insert(revision, blob, pygit2.GIT_FILEMODE_BLOB)
    signature = pygit2.Signature(SIGNATURE_NAME, SIGNATURE_EMAIL)
    parents = [p for p in (ours, theirs) if p is not None]
    return repo.create_commit(
        None, signature, signature, "Merge commit statuses", builder.write(), parents
    )


def note_targets(tree: pygit2.Tree) -> list[str]:
    """The commits a notes tree annotates, flat or fanned out as git writes them."""
    targets: list[str] = []
    for entry in tree:
        name = str(entry.name)
        if isinstance(entry, pygit2.Tree):
            targets.extend(name + str(sub.name) for sub in entry)
        else:
            targets.append(name)
    return targets


def status_from_entry(revision: str, context: str, entry: dict[str, Any]) -> CommitStatus:
    return CommitStatus(
        revision=revision,
        context=context,
        state=state_named(entry.get("state")) or CommitState.ERROR,
        description=str(entry.get("description") or ""),
        target_url=entry.get("target_url") or None,
    )
