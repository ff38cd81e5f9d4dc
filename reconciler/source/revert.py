"""Rolling a unit back by committing a revert, so that git keeps saying what runs.

A unit's files are its folder plus the files outside it that it reads (the
repo-wide ``reconciler.yml``, a tfstate file...): :func:`unit_scope`. A revert
undoes what one commit did to those files and nothing else, so another unit's
change made in the same commit stays. It is a three-way merge of trees, the
reverted commit as the ancestor, the branch head as ours and the commit's
parent as theirs (what ``git revert`` does), of which only the unit's paths are
kept: a unit file changed since in a way the merge cannot settle is a conflict,
and the revert is refused naming the files.

Restoring a unit "as it was at REV" is simpler: its files are taken from REV.

The commit is made on the checked-out branch of a working copy (files and index
follow, as :class:`~reconciler.source.commits.WorkingCopy` does), or as objects
alone on a named branch, which works in a bare mirror too. Pushing goes through
pygit2 with the credentials the source fetches with (``GIT_TOKEN``, or an ssh
key). :func:`revert_failed_revision` is what the loop calls for ``on_failure:
revert``: when the watched branch refuses the push (a protected branch), the
revert goes to a branch of its own, for a pull request, and the result says so.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from reconciler.errors import PermanentError, Reason
from reconciler.source.commits import (
    AUTHOR_ENV,
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    Commit,
    Identity,
    WorkingCopy,
    commit_message,
)
from reconciler.source.edits import FileEdit
from reconciler.source.files import confine_path
from reconciler.source.remote import (
    GitRemote,
    PushCallbacks,
    redact_url,
    ssh_home,
    trusting_known_hosts,
)

log = logging.getLogger(__name__)

TOKEN_ENV = "GIT_TOKEN"
SSH_KEY_ENV = "GIT_SSH_KEY_FILE"
KNOWN_HOSTS_ENV = "GIT_SSH_KNOWN_HOSTS_FILE"
DEFAULT_REMOTE = "origin"
REVERT_BRANCH_PREFIX = "reconciler/revert"
SHORT = 12
"""Characters of a commit id shown in messages and branch names."""


class RevertRefused(PermanentError):
    """A revert cannot be made as asked; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.REVERT_REFUSED, message)


@dataclass(frozen=True, slots=True)
class UnitRevert:
    """What rolling a unit back changes, before anything is committed.

    ``undone`` is the commit whose changes to the unit are reverted (None when
    restoring the unit as it was at ``restored``); ``edits`` are empty when the
    unit's files already are as the rollback wants them.
    """

    unit: str
    head: str
    edits: tuple[FileEdit, ...]
    undone: str | None = None
    undone_subject: str | None = None
    restored: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.edits)


@dataclass(frozen=True, slots=True)
class PushResult:
    """Whether the remote took a branch; ``refused`` is what it said when not."""

    remote_branch: str
    refused: str | None = None

    @property
    def accepted(self) -> bool:
        return self.refused is None


@dataclass(frozen=True, slots=True)
class RevertResult:
    """What an automatic revert did, in a line the loop can put in a status.

    ``revision`` is the revert commit (None when the unit needed no revert);
    ``branch`` the branch it is on: the watched branch, or a branch of its own
    when the watched one refused it (``refused`` says what the remote said).
    """

    unit: str
    failed_revision: str
    revision: str | None
    branch: str | None
    watched_branch: str
    pushed: bool = False
    refused: str | None = None
    summary: str = ""

    @property
    def on_own_branch(self) -> bool:
        return self.branch is not None and self.branch != self.watched_branch


def unit_scope(unit_id: str, files: Iterable[str] = ()) -> tuple[str, ...]:
    """The paths that make up a unit: its folder, then the files it reads outside it."""
    folder = confine_path(unit_id)
    extra = [confine_path(f) for f in files]
    return tuple(dict.fromkeys([folder, *(f for f in extra if not in_scope(f, (folder,)))]))


def in_scope(path: str, scope: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``scope``'s files or inside one of its folders."""
    return any(s == "." or path == s or path.startswith(f"{s}/") for s in scope)


def _commit_of(repo: pygit2.Repository, revision: str) -> pygit2.Commit:
    try:
        commit = repo.revparse_single(revision).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise RevertRefused(
            f"{revision!r} is not a commit in {repo.path}; pass a commit id, branch or tag"
        ) from exc
    assert isinstance(commit, pygit2.Commit)
    return commit


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    tree = repo[repo.TreeBuilder().write()]
    assert isinstance(tree, pygit2.Tree)
    return tree


def _parent_tree(repo: pygit2.Repository, commit: pygit2.Commit) -> pygit2.Tree:
    return commit.parents[0].tree if commit.parents else _empty_tree(repo)


def _subject(commit: pygit2.Commit) -> str:
    return str(commit.message).strip().splitlines()[0] if str(commit.message).strip() else ""


def _changed_paths(repo: pygit2.Repository, commit: pygit2.Commit) -> set[str]:
    diff = _parent_tree(repo, commit).diff_to_tree(commit.tree)
    paths: set[str] = set()
    for delta in diff.deltas:
        paths.update((delta.old_file.path, delta.new_file.path))
    return paths


def last_change(repo: pygit2.Repository, head: str, scope: Sequence[str]) -> pygit2.Commit | None:
    """The newest commit, following first parents from ``head``, that changed ``scope``."""
    walker = repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    for commit in walker:
        if any(in_scope(p, scope) for p in _changed_paths(repo, commit)):
            return commit
    return None


def _tree_files(tree: pygit2.Tree, scope: Sequence[str]) -> dict[str, pygit2.Oid]:
    """The blobs of ``tree`` inside ``scope``, by path."""
    found: dict[str, pygit2.Oid] = {}
    pending: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while pending:
        prefix, current = pending.pop()
        for entry in current:
            path = f"{prefix}{entry.name}"
            if isinstance(entry, pygit2.Tree):
                # Only descend where a scope path can lie.
                if any(s == "." or s == path or s.startswith(f"{path}/") for s in scope) or (
                    in_scope(path, scope)
                ):
                    pending.append((f"{path}/", entry))
            elif in_scope(path, scope):
                found[path] = entry.id
    return found


def _edits(
    repo: pygit2.Repository, current: Mapping[str, pygit2.Oid], wanted: Mapping[str, pygit2.Oid]
) -> tuple[FileEdit, ...]:
    edits = []
    for path in sorted(current.keys() | wanted.keys()):
        if current.get(path) == wanted.get(path):
            continue
        blob_id = wanted.get(path)
        content = None if blob_id is None else bytes(repo[blob_id].peel(pygit2.Blob).data)
        edits.append(FileEdit(path, content))
    return tuple(edits)


def plan_revert(
    repo: pygit2.Repository,
    unit_id: str,
    scope: Sequence[str],
    *,
    head: str,
    revision: str | None = None,
) -> UnitRevert:
    """Undo, on ``head``, what ``revision`` (default: the last commit that changed
    the unit) did to the unit's files. Refused when nothing changed them, or
    when the unit's files changed since in a way the revert cannot apply."""
    head_commit = _commit_of(repo, head)
    if revision is None:
        undone = last_change(repo, str(head_commit.id), scope)
        if undone is None:
            raise RevertRefused(
                f"no commit on {head[:SHORT]}'s history changed unit {unit_id} "
                f"({', '.join(scope)}); check the unit id"
            )
    else:
        undone = _commit_of(repo, revision)
        if not any(in_scope(p, scope) for p in _changed_paths(repo, undone)):
            return UnitRevert(
                unit_id, str(head_commit.id), (), str(undone.id), _subject(undone), None
            )

    # git revert's merge: the commit is the ancestor, its parent what we want back.
    merged = repo.merge_trees(undone.tree, head_commit.tree, _parent_tree(repo, undone))
    conflicts = sorted(
        {
            entry.path
            for sides in (merged.conflicts or ())
            for entry in sides
            if entry is not None and in_scope(entry.path, scope)
        }
    )
    if conflicts:
        raise RevertRefused(
            f"reverting {str(undone.id)[:SHORT]} ({_subject(undone)}) for unit {unit_id} "
            f"conflicts with later changes to {', '.join(conflicts)}; restore the unit with "
            "--to REV, or revert it by hand"
        )
    wanted = {e.path: e.id for e in merged if in_scope(e.path, scope)}
    current = _tree_files(head_commit.tree, scope)
    folder = scope[0]
    if (
        folder != "."
        and _tree_files(head_commit.tree, (folder,))
        and not any(in_scope(p, (folder,)) for p in wanted)
    ):
        # Reverting the commit that made the unit would delete it: never by accident.
        raise RevertRefused(
            f"reverting {str(undone.id)[:SHORT]} ({_subject(undone)}) would remove unit "
            f"{unit_id} altogether; delete the unit in a commit of its own if that is meant"
        )
    return UnitRevert(
        unit_id,
        str(head_commit.id),
        _edits(repo, current, wanted),
        undone=str(undone.id),
        undone_subject=_subject(undone),
    )


def plan_restore(
    repo: pygit2.Repository, unit_id: str, scope: Sequence[str], *, head: str, revision: str
) -> UnitRevert:
    """The unit's files on ``head`` made as they were at ``revision``."""
    head_commit = _commit_of(repo, head)
    restored = _commit_of(repo, revision)
    current = _tree_files(head_commit.tree, scope)
    wanted = _tree_files(restored.tree, scope)
    if not wanted:
        raise RevertRefused(
            f"unit {unit_id} has no files at {revision!r} ({str(restored.id)[:SHORT]}); "
            "pass a revision where it existed"
        )
    return UnitRevert(
        unit_id,
        str(head_commit.id),
        _edits(repo, current, wanted),
        undone_subject=_subject(restored),
        restored=str(restored.id),
    )


def revert_message(revert: UnitRevert, reason: str | None) -> str:
    """Names what is undone (commit id and subject) and why, with trailers."""
    details = {"Unit": revert.unit}
    if revert.undone is not None:
        subject = f'Roll back {revert.unit}: revert "{revert.undone_subject}"'
        details["Reverts"] = revert.undone
        lead = (
            f"This reverts the changes commit {revert.undone} made to unit {revert.unit}; "
            "other units' changes in that commit stay."
        )
    else:
        assert revert.restored is not None
        subject = f"Roll back {revert.unit} to {revert.restored[:SHORT]}"
        details["Restores"] = revert.restored
        lead = (
            f"This restores the files of unit {revert.unit} as they were at "
            f'{revert.restored} ("{revert.undone_subject}").'
        )
    body = f"{reason.strip()}\n\n{lead}" if reason and reason.strip() else lead
    return commit_message(subject, body, details)


def reconciler_identity(given: Identity | None = None) -> Identity:
    """Who an automatic commit is by: ``given``, else ``$RECONCILER_GIT_AUTHOR``,
    else the reconciler's own name; never whoever last configured git here."""
    if given is not None:
        return given
    environment = os.environ.get(AUTHOR_ENV)
    if environment:
        try:
            return Identity.parse(environment)
        except ValueError:
            log.warning("%s is not 'Name <email>'; committing as the reconciler", AUTHOR_ENV)
    return Identity(DEFAULT_NAME, DEFAULT_EMAIL)


def commit_on_branch(
    repo: pygit2.Repository,
    parent: str,
    edits: Sequence[FileEdit],
    message: str,
    identity: Identity | None,
    branch: str,
    *,
    force: bool = False,
) -> Commit:
    """A commit of ``edits`` over ``parent``, on ``branch``, made of objects alone:
    no working copy is read or written, so this works in a bare repository and
    leaves a checkout as it is."""
    parent_commit = _commit_of(repo, parent)
    index = pygit2.Index()
    index.read_tree(parent_commit.tree)
    for edit in edits:
        path = confine_path(edit.path)
        if edit.content is None:
            if path in index:
                index.remove(path)
            continue
        mode = FileMode(index[path].mode) if path in index else FileMode.BLOB
        index.add(pygit2.IndexEntry(path, repo.create_blob(edit.content), mode))
    tree = index.write_tree(repo)
    who = reconciler_identity(identity)
    signature = pygit2.Signature(who.name, who.email)
    ref = f"refs/heads/{branch}"
    if not force and ref in repo.references:
        raise RevertRefused(f"branch {branch} exists already; name another with --branch")
    revision = repo.create_commit(None, signature, signature, message, tree, [parent_commit.id])
    repo.references.create(ref, revision, force=True)
    log.info("committed", extra={"branch": branch, "revision": str(revision)})
    return Commit(
        str(revision),
        str(parent_commit.id),
        branch,
        tuple(e.path for e in edits),
        who,
    )


def remote_from_env(url: str, branch: str, env: Mapping[str, str] | None = None) -> GitRemote:
    """The remote as the source fetches it: a token from ``GIT_TOKEN``, or an ssh
    key from ``GIT_SSH_KEY_FILE`` (with ``GIT_SSH_KNOWN_HOSTS_FILE``)."""
    environment = os.environ if env is None else env
    key = environment.get(SSH_KEY_ENV)
    known = environment.get(KNOWN_HOSTS_ENV)
    return GitRemote(
        url=url,
        branch=branch,
        token=environment.get(TOKEN_ENV) or None,
        ssh_key=Path(key) if key else None,
        known_hosts=Path(known) if known else None,
    )


def has_remote(repo: pygit2.Repository, name: str = DEFAULT_REMOTE) -> bool:
    return name in repo.remotes.names()


def push_branch(
    repo: pygit2.Repository,
    branch: str,
    remote_branch: str | None = None,
    *,
    remote: str = DEFAULT_REMOTE,
    env: Mapping[str, str] | None = None,
) -> PushResult:
    """Push the local ``branch`` to ``remote_branch`` (default: the same name).

    A remote that refuses the ref (a hook, a protected branch, not a fast
    forward) or cannot be reached gives a result with ``refused`` set; only a
    missing remote raises.
    """
    target = remote_branch or branch
    if not has_remote(repo, remote):
        raise RevertRefused(f"the repository has no remote {remote!r} to push to")
    origin = repo.remotes[remote]
    access = remote_from_env(str(origin.url), target, env)
    callbacks = PushCallbacks(access)
    destination = f"refs/heads/{target}"
    try:
        with trusting_known_hosts(access, ssh_home(repo)):
            origin.push([f"refs/heads/{branch}:{destination}"], callbacks=callbacks)
    except Exception as exc:  # a GitError, or what our callbacks raised through libgit2
        said = str(exc) or type(exc).__name__
        log.warning(
            "push refused",
            extra={"remote": redact_url(str(origin.url)), "branch": target, "cause": said},
        )
        return PushResult(target, said)
    refused = callbacks.refused.get(destination)
    if refused:
        log.warning(
            "push refused",
            extra={"remote": redact_url(str(origin.url)), "branch": target, "cause": refused},
        )
        return PushResult(target, refused)
    log.info("pushed", extra={"remote": redact_url(str(origin.url)), "branch": target})
    return PushResult(target)


def watched_branch(repo: pygit2.Repository) -> str:
    """The branch HEAD names, in a working copy or a bare mirror."""
    if repo.head_is_unborn:
        raise RevertRefused(f"{repo.path} has no commit yet")
    if repo.head_is_detached:
        raise RevertRefused(f"HEAD of {repo.path} is detached; check out the watched branch")
    return str(repo.head.shorthand)


def revert_branch_name(unit_id: str, revision: str, prefix: str = REVERT_BRANCH_PREFIX) -> str:
    """``reconciler/revert-<unit>-<short sha>``, the unit's folders joined by ``-``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", unit_id).strip("-.") or "root"
    return f"{prefix}-{slug}-{revision[:SHORT]}"


def revert_failed_revision(
    repo_path: str | os.PathLike[str],
    unit_id: str,
    failed_revision: str,
    reason: str,
    *,
    push: bool = True,
    branch_prefix: str = REVERT_BRANCH_PREFIX,
    files: Sequence[str] = (),
    identity: Identity | None = None,
    remote: str = DEFAULT_REMOTE,
    env: Mapping[str, str] | None = None,
) -> RevertResult:
    """Revert what ``failed_revision`` did to a unit, after its rollout failed.

    The revert is made over the watched branch's head (the branch HEAD names;
    ``repo_path`` may be a bare mirror) and names the failed commit and
    ``reason``. With ``push``, it is pushed to the watched branch; when the
    remote refuses that, to a branch of its own, ``<branch_prefix>-<unit>-<short
    sha>``, for a pull request; the local branch is left for the next fetch to
    move. Without ``push``, the watched branch itself is moved (a local
    repository that is its own source). The commit is by ``identity``, else
    ``$RECONCILER_GIT_AUTHOR``, else the reconciler.

    ``files`` are the paths outside the unit's folder it reads
    (``DesiredUnit.files``). Raises :class:`RevertRefused` when the revert
    conflicts with later changes to the unit.
    """
    try:
        repo = pygit2.Repository(os.fspath(repo_path))
    except pygit2.GitError as exc:
        raise RevertRefused(f"{repo_path} is not a git repository") from exc
    watched = watched_branch(repo)
    scope = unit_scope(unit_id, files)
    head = str(repo.head.target)
    failed = str(_commit_of(repo, failed_revision).id)
    revert = plan_revert(repo, unit_id, scope, head=head, revision=failed)
    if not revert.edits:
        touched = any(in_scope(p, scope) for p in _changed_paths(repo, _commit_of(repo, failed)))
        summary = (
            f"nothing to revert: {unit_id} is already as before {failed[:SHORT]}"
            if touched
            else f"nothing to revert: {failed[:SHORT]} changed none of {unit_id}'s files"
        )
        return RevertResult(unit_id, failed, None, None, watched, summary=summary)

    reason_text = (
        f'The rollout of {failed[:SHORT]} ("{revert.undone_subject}") failed for unit '
        f"{unit_id}: {reason}"
    )
    message = revert_message(revert, reason_text)
    identity = reconciler_identity(identity)
    own_branch = revert_branch_name(unit_id, failed, branch_prefix)

    if not push:
        commit = _commit_locally(repo, repo_path, revert, message, identity, watched)
        summary = f"reverted {failed[:SHORT]} in {commit.revision[:SHORT]} on {watched}"
        return RevertResult(unit_id, failed, commit.revision, watched, watched, summary=summary)

    # The revert lives on its own branch first: pushed to the watched branch
    # when allowed, or as itself for a pull request when not.
    commit = commit_on_branch(repo, head, revert.edits, message, identity, own_branch, force=True)
    to_watched = push_branch(repo, own_branch, watched, remote=remote, env=env)
    if to_watched.accepted:
        repo.references.delete(f"refs/heads/{own_branch}")
        summary = f"reverted {failed[:SHORT]} in {commit.revision[:SHORT]}, pushed to {watched}"
        return RevertResult(
            unit_id, failed, commit.revision, watched, watched, pushed=True, summary=summary
        )
    to_own = push_branch(repo, own_branch, remote=remote, env=env)
    if not to_own.accepted:
        raise RevertRefused(
            f"the remote refused the revert of {failed[:SHORT]} for unit {unit_id} on "
            f"{watched} ({to_watched.refused}) and on {own_branch} ({to_own.refused}); "
            f"the commit {commit.revision[:SHORT]} is kept in the local branch {own_branch}"
        )
    summary = (
        f"push of the revert of {failed[:SHORT]} to {watched} was refused "
        f"({_first_line(to_watched.refused)}); it is on branch {own_branch}, open a pull request"
    )
    return RevertResult(
        unit_id,
        failed,
        commit.revision,
        own_branch,
        watched,
        pushed=True,
        refused=to_watched.refused,
        summary=summary,
    )


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no reason given"


def _commit_locally(
    repo: pygit2.Repository,
    repo_path: str | os.PathLike[str],
    revert: UnitRevert,
    message: str,
    identity: Identity | None,
    branch: str,
) -> Commit:
    """Move ``branch`` itself: through the working copy when there is one, so
    its files follow; as objects alone in a bare repository."""
    if not repo.is_bare:
        return WorkingCopy(repo_path).commit(list(revert.edits), message, identity)
    return commit_on_branch(repo, revert.head, revert.edits, message, identity, branch, force=True)


@dataclass(frozen=True, slots=True)
class UnitCommit:
    """A commit that changed a unit's files: who, when (UTC), and what it says."""

    revision: str
    author: str
    at: datetime.datetime
    subject: str


def unit_commits(
    repo_path: str | os.PathLike[str],
    unit_id: str,
    files: Iterable[str] = (),
    *,
    revision: str = "HEAD",
    limit: int = 20,
) -> list[UnitCommit]:
    """The newest ``limit`` commits (first parents from ``revision``) that changed
    the unit's folder or ``files``, newest first."""
    try:
        repo = pygit2.Repository(os.fspath(repo_path))
    except pygit2.GitError as exc:
        raise RevertRefused(f"{repo_path} is not a git repository") from exc
    scope = unit_scope(unit_id, files)
    walker = repo.walk(_commit_of(repo, revision).id, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    found: list[UnitCommit] = []
    for commit in walker:
        if len(found) >= limit:
            break
        if not any(in_scope(p, scope) for p in _changed_paths(repo, commit)):
            continue
        author = commit.author
        found.append(
            UnitCommit(
                revision=str(commit.id),
                author=f"{author.name} <{author.email}>",
                at=datetime.datetime.fromtimestamp(author.time, tz=datetime.UTC),
                subject=_subject(commit),
            )
        )
    return found
