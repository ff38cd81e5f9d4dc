"""Finding units: every folder that holds an ecspresso config file."""

from __future__ import annotations

import posixpath

from reconciler.source.files import RepoFiles

CONFIG_NAMES = ("ecspresso.yml", "ecspresso.yaml", "ecspresso.json", "ecspresso.jsonnet")
"""The config file names that make a folder a unit, in the order one is chosen."""


def discover_units(files: RepoFiles) -> list[str]:
    """The ids of every unit in the repository, sorted: folder paths from the root
    (``"api"``, ``"prod/frontend"``, ``"."`` for the root itself)."""
    units = [folder for folder, _, names in files.walk() if any(n in names for n in CONFIG_NAMES)]
    return sorted(units)


def find_config_file(files: RepoFiles, unit_id: str) -> str | None:
    """The config file of a unit, as a path from the repo root; ``None`` if none."""
    names = set(files.list_dir(unit_id))
    for name in CONFIG_NAMES:
        if name in names and files.exists(posixpath.join(unit_id, name)):
            return posixpath.normpath(posixpath.join(unit_id, name))
    return None
