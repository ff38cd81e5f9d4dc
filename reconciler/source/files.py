"""A read-only view of a repository's files, from a folder or from a git commit.

Every later stage reads a repository through :class:`RepoFiles` and never
knows which kind it has: a folder on disk (``reconciler render --repo DIR``)
or a commit's tree read straight from the object database with pygit2 (the
loop, ``--revision``), with no checkout and no working copy to go stale.

Paths are POSIX, relative to the repository root, and never leave it:
:func:`confine_path` refuses ``..`` that climbs out, absolute paths and
symbolic links that point outside.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pygit2

from reconciler.errors import PermanentError, Reason


class SourceError(PermanentError):
    """The repository or the revision asked for cannot be read."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.SOURCE_UNREACHABLE, message)


SKIPPED_DIRS = frozenset({"node_modules"})
"""Folders never searched for units, besides hidden ones such as ``.git``."""


class RepoFiles(Protocol):
    """Read-only access to one version of a repository."""

    @property
    def revision(self) -> str | None:
        """The commit id read, or ``None`` for a plain folder."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``; :class:`FileNotFoundError` if none."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file (not a folder) exists at ``path``."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """The names in the folder at ``path``, sorted; ``"."`` is the root."""
        ...

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        """``(folder, subfolders, files)`` from the root down, sorted, skipping
        hidden folders and ``node_modules``; ``"."`` is the root."""
        ...

    def tree_id(self, path: str) -> str | None:
        """The git tree id of the folder at ``path`` (``None`` outside git), so a
        render can be cached for as long as the folder's content is unchanged."""
        ...


def confine_path(path: str, *, base: str = ".") -> str:
    """``path`` (relative to the folder ``base``) as a path from the repo root.

    Raises :class:`ValueError` when it would leave the repository.
    """
    if path.startswith("/") or path.startswith("\\") or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"{path!r} is an absolute path; use a path inside the repository")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".." or joined.startswith("../"):
        raise ValueError(f"{path!r} leaves the repository")
    return joined


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRS


class FolderFiles:
    """A repository as a folder on disk, as it is now."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise SourceError(f"{self.root} is not a folder; pass --repo with a repository folder")

    @property
    def revision(self) -> str | None:
        return None

    def _local(self, path: str) -> Path:
        relative = confine_path(path)
        local = (self.root / relative).resolve()
        # A symbolic link may still point outside, which git would not allow either.
        if local != self.root and self.root not in local.parents:
            raise ValueError(f"{path!r} leads outside the repository through a symbolic link")
        return local

    def read_bytes(self, path: str) -> bytes:
        local = self._local(path)
        if not local.is_file():
            raise FileNotFoundError(path)
        return local.read_bytes()

    def exists(self, path: str) -> bool:
        try:
            return self._local(path).is_file()
        except ValueError:
            return False

    def list_dir(self, path: str) -> list[str]:
        local = self._local(path)
        if not local.is_dir():
            raise FileNotFoundError(path)
        return sorted(entry.name for entry in local.iterdir())

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        pending = ["."]
        while pending:
            folder = pending.pop(0)
            local = self.root / folder
            subfolders: list[str] = []
            files: list[str] = []
            for entry in sorted(local.iterdir(), key=lambda e: e.name):
                mode = entry.lstat().st_mode
                if stat.S_ISDIR(mode):
                    if not _skipped(entry.name):
                        subfolders.append(entry.name)
                elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    files.append(entry.name)
            yield folder, subfolders, files
            pending[0:0] = [posixpath.normpath(posixpath.join(folder, s)) for s in subfolders]

    def tree_id(self, path: str) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"FolderFiles({str(self.root)!r})"


class GitFiles:
    """A repository as one commit's tree, read with pygit2 without a checkout."""

    def __init__(self, repository: str | os.PathLike[str], revision: str = "HEAD") -> None:
        try:
            self._repo = pygit2.Repository(os.fspath(repository))
        except pygit2.GitError as exc:
            raise SourceError(f"{repository} is not a git repository: {exc}") from exc
        try:
            commit = self._repo.revparse_single(revision).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise SourceError(
                f"revision {revision!r} is not a commit in {self._repo.path}; "
                "pass a branch, tag or commit id that exists"
            ) from exc
        self._commit = commit
        self._tree = commit.tree

    @property
    def revision(self) -> str | None:
        return str(self._commit.id)

    @property
    def author(self) -> str:
        """Who wrote the commit, as the audit line names them."""
        signature = self._commit.author
        return f"{signature.name} <{signature.email}>"

    def _object(self, path: str) -> Any | None:
        relative = confine_path(path)
        if relative == ".":
            return self._tree
        try:
            entry = self._tree[relative]
        except KeyError:
            return None
        return self._repo[entry.id]

    def read_bytes(self, path: str) -> bytes:
        obj = self._object(path)
        if not isinstance(obj, pygit2.Blob):
            raise FileNotFoundError(path)
        return bytes(obj.data)

    def exists(self, path: str) -> bool:
        try:
            return isinstance(self._object(path), pygit2.Blob)
        except ValueError:
            return False

    def list_dir(self, path: str) -> list[str]:
        obj = self._object(path)
        if not isinstance(obj, pygit2.Tree):
            raise FileNotFoundError(path)
        return sorted(str(entry.name) for entry in obj)

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        pending: list[tuple[str, Any]] = [(".", self._tree)]
        while pending:
            folder, tree = pending.pop(0)
            subfolders: list[str] = []
            files: list[str] = []
            children: list[tuple[str, Any]] = []
            for entry in sorted(tree, key=lambda e: str(e.name)):
                name = str(entry.name)
                if entry.type_str == "tree":
                    if not _skipped(name):
                        subfolders.append(name)
                        child = posixpath.normpath(posixpath.join(folder, name))
                        children.append((child, self._repo[entry.id]))
                elif entry.type_str == "blob":
                    files.append(name)
            yield folder, subfolders, files
            pending[0:0] = children

    def tree_id(self, path: str) -> str | None:
        obj = self._object(path)
        return str(obj.id) if isinstance(obj, pygit2.Tree) else None

    def __repr__(self) -> str:
        return f"GitFiles({self._repo.path!r}, {self.revision!r})"


def open_repo_files(repo: str | os.PathLike[str], revision: str | None = None) -> RepoFiles:
    """The folder ``repo`` as it is, or, with ``revision``, its git commit's tree."""
    if revision is None:
        return FolderFiles(repo)
    return GitFiles(repo, revision)
