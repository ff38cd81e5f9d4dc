"""Writing commits to a working copy's current branch, with pygit2 alone.

``reconciler scale`` and ``set-image`` (and the rollback built on them) change
desired state by committing it, so that git keeps saying what runs. A commit
here is made on the branch checked out in the working copy, from that branch's
head plus the given file edits; the index and the files on disk are left equal
to the new commit, as if the user had edited, added and committed by hand.

A working copy whose tracked files differ from its head is refused: the commit
would either carry someone's unfinished work or leave it behind half-staged.
Untracked files are left alone (they are not part of any commit), unless an
edit would write over one.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus

from reconciler.errors import PermanentError, Reason
from reconciler.source.edits import FileEdit
from reconciler.source.files import confine_path

log = logging.getLogger(__name__)

AUTHOR_ENV = "RECONCILER_GIT_AUTHOR"
"""``Name <email>`` for the commits the reconciler writes, over git's config."""

DEFAULT_NAME = "ecs-gitops-reconciler"
DEFAULT_EMAIL = "reconciler@localhost"

SHOWN_PATHS = 5
"""Dirty paths named in an error; the rest are counted."""


class WorkingCopyError(PermanentError):
    """The working copy cannot take a commit as it is; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.SOURCE_UNREACHABLE, message)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a commit is by: its author and committer."""

    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Identity:
        """``Name <email>``, as git writes it."""
        match = re.fullmatch(r"\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+)>\s*", text)
        if match is None or not match["name"]:
            raise ValueError(f"{text!r} is not 'Name <email>'")
        return cls(match["name"], match["email"])

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit written to a branch."""

    revision: str
    parent: str
    branch: str
    paths: tuple[str, ...]
    identity: Identity


class WorkingCopy:
    """A git working copy (a checked-out repository) that commits can be made in.

    ``path`` must be the top folder of the working copy: unit ids and the
    paths of edits are relative to it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path).resolve()
        try:
            self.repo = pygit2.Repository(os.fspath(self.root))
        except pygit2.GitError as exc:
            raise WorkingCopyError(
                f"{self.root} is not a git working copy; pass --repo with a clone's top folder"
            ) from exc
        if self.repo.is_bare or self.repo.workdir is None:
            raise WorkingCopyError(f"{self.root} is a bare repository; use a clone with files")
        workdir = Path(self.repo.workdir).resolve()
        if workdir != self.root:
            raise WorkingCopyError(
                f"{self.root} is inside the working copy {workdir}; pass --repo {workdir}"
            )

    @property
    def branch(self) -> str:
        """The branch checked out, which commits move."""
        if self.repo.head_is_unborn:
            raise WorkingCopyError(f"{self.root} has no commit yet; commit the units first")
        if self.repo.head_is_detached:
            raise WorkingCopyError(
                f"HEAD of {self.root} is detached; check out the branch to commit to"
            )
        return str(self.repo.head.shorthand)

    @property
    def head_revision(self) -> str:
        """The commit id the branch points at."""
        _ = self.branch
        return str(self.repo.head.target)

    def dirty_paths(self) -> list[str]:
        """Tracked files whose content differs from the head (staged or not)."""
        dirty = []
        for path, flags in self.repo.status().items():
            if flags & (FileStatus.WT_NEW | FileStatus.IGNORED) and not flags & ~(
                FileStatus.WT_NEW | FileStatus.IGNORED
            ):
                continue
            dirty.append(path)
        return sorted(dirty)

    def require_clean(self, paths: Sequence[str] = ()) -> None:
        """Refuse a working copy with changes to tracked files, or with untracked
        files at ``paths`` (which a commit would write over)."""
        _ = self.branch
        dirty = self.dirty_paths()
        if dirty:
            shown = ", ".join(dirty[:SHOWN_PATHS])
            more = f" and {len(dirty) - SHOWN_PATHS} more" if len(dirty) > SHOWN_PATHS else ""
            raise WorkingCopyError(
                f"the working copy {self.root} has uncommitted changes ({shown}{more}); "
                "commit or stash them first"
            )
        status = self.repo.status()
        in_the_way = [p for p in paths if status.get(p, 0) & FileStatus.WT_NEW]
        if in_the_way:
            raise WorkingCopyError(
                f"{', '.join(in_the_way)} exists but is not committed, and the change would "
                "write over it; commit or remove it first"
            )

    def identity(self, given: str | None = None, env: Mapping[str, str] | None = None) -> Identity:
        """Who commits: ``given``, else ``$RECONCILER_GIT_AUTHOR``, else git's
        ``user.name``/``user.email``, else the reconciler's own name."""
        environment = os.environ if env is None else env
        for text, origin in ((given, "--author"), (environment.get(AUTHOR_ENV), AUTHOR_ENV)):
            if text:
                try:
                    return Identity.parse(text)
                except ValueError as exc:
                    raise WorkingCopyError(f"{origin}: {exc}; write 'Name <email>'") from exc
        config = self.repo.config
        try:
            return Identity(str(config["user.name"]), str(config["user.email"]))
        except KeyError:
            return Identity(DEFAULT_NAME, DEFAULT_EMAIL)

    def read_head_file(self, path: str) -> bytes | None:
        """A file's content at the head, or ``None`` when it is not there."""
        tree = self.repo.head.peel(pygit2.Commit).tree
        try:
            entry = tree[confine_path(path)]
        except KeyError:
            return None
        blob = self.repo[entry.id]
        return bytes(blob.data) if isinstance(blob, pygit2.Blob) else None

    def commit(
        self, edits: Sequence[FileEdit], message: str, identity: Identity | None = None
    ) -> Commit:
        """Commit ``edits`` on the current branch, over its head; update the
        index and the files on disk to match. The working copy must be clean."""
        paths = [confine_path(e.path) for e in edits]
        self.require_clean(paths)
        who = identity or self.identity()
        branch = self.branch
        parent = self.repo.head.target

        # Build the new tree from the head's index; files on disk come after the
        # commit exists, so a failure before it leaves the working copy as it was.
        index = self.repo.index
        index.read()
        for path, edit in zip(paths, edits, strict=True):
            if edit.content is None:
                if path in index:
                    index.remove(path)
                continue
            blob = self.repo.create_blob(edit.content)
            mode = self._mode(path)
            index.add(pygit2.IndexEntry(path, blob, mode))
        tree = index.write_tree()
        signature = pygit2.Signature(who.name, who.email)
        revision = self.repo.create_commit("HEAD", signature, signature, message, tree, [parent])

        # The working copy now follows the commit: files, then the index with
        # fresh stat data, so that status sees them as unchanged.
        for path, edit in zip(paths, edits, strict=True):
            local = self.root / path
            if edit.content is None:
                local.unlink(missing_ok=True)
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(edit.content)
            index.add(path)
        index.write()
        log.info(
            "committed",
            extra={"branch": branch, "revision": str(revision), "paths": paths},
        )
        return Commit(str(revision), str(parent), branch, tuple(paths), who)

    def _mode(self, path: str) -> FileMode:
        tree = self.repo.head.peel(pygit2.Commit).tree
        try:
            return FileMode(tree[path].filemode)
        except KeyError:
            return FileMode.BLOB


def commit_message(subject: str, reason: str | None, details: Mapping[str, str]) -> str:
    """A commit message: what changed in the subject, why in the body, and the
    particulars as trailers a script can read (``git interpret-trailers``)."""
    parts = [subject.strip()]
    if reason and reason.strip():
        parts.append(reason.strip())
    if details:
        parts.append("\n".join(f"{key}: {value}" for key, value in details.items()))
    return "\n\n".join(parts) + "\n"


def unit_file(unit_id: str, name: str) -> str:
    """The path from the repo root of ``name`` in the unit's folder."""
    return posixpath.normpath(posixpath.join(unit_id, name))
