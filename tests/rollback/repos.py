"""Working copies of two units (web, api) and remotes for the rollback tests."""

from __future__ import annotations

from pathlib import Path

import pygit2

from tests.gitedit.repos import API_JSONNET, AUTHOR, WEB, head_text, make_repo
from tests.report.git_repos import git

__all__ = ["AUTHOR", "Units", "head_text"]


class Units:
    """A working copy on main holding the web and api units, committed with pygit2."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = make_repo(root, {**WEB, **API_JSONNET})

    @property
    def head(self) -> str:
        return str(self.repo.head.target)

    def edit(self, path: str, old: str, new: str) -> None:
        text = (self.root / path).read_text()
        assert old in text, f"{old!r} not in {path}"
        (self.root / path).write_text(text.replace(old, new))

    def commit(self, message: str) -> str:
        index = self.repo.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        oid = self.repo.create_commit(
            "HEAD", AUTHOR, AUTHOR, message, tree, [self.repo.head.target]
        )
        return str(oid)

    def bump(self, unit: str, old: str, new: str, message: str | None = None) -> str:
        self.edit(f"{unit}/reconciler.yml", f'IMAGE_TAG: "{old}"', f'IMAGE_TAG: "{new}"')
        return self.commit(message or f"{unit}: image {new}")

    def message(self, revision: str = "HEAD") -> str:
        commit = self.repo.revparse_single(revision).peel(pygit2.Commit)
        return str(commit.message)

    def text(self, path: str) -> str:
        return head_text(self.repo, path)


def bare_origin(root: Path, work: Path, *, protect_main: bool = False) -> Path:
    """A bare repository holding ``work``'s main, ``work``'s remote ``origin``;
    with ``protect_main``, a pre-receive hook refuses any push to main."""
    origin = root / "origin.git"
    git("clone", "-q", "--bare", str(work), str(origin))
    git("config", "daemon.receivepack", "true", cwd=origin)
    if protect_main:
        hook = origin / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\n"
            "while read old new ref; do\n"
            '  if [ "$ref" = refs/heads/main ]; then\n'
            "    echo 'main is protected: open a pull request' >&2\n"
            "    exit 1\n"
            "  fi\n"
            "done\n"
        )
        hook.chmod(0o755)
    return origin


def remote_head(origin: Path, branch: str) -> str | None:
    repo = pygit2.Repository(str(origin))
    reference = repo.references.get(f"refs/heads/{branch}")
    return str(reference.target) if reference is not None else None


def remote_text(origin: Path, branch: str, path: str) -> str:
    repo = pygit2.Repository(str(origin))
    tree = repo.revparse_single(f"refs/heads/{branch}").peel(pygit2.Commit).tree
    return bytes(repo[tree[path].id].data).decode()
