"""The source stage: a read-only view of the repository at a revision, and its units."""

from reconciler.source.discovery import CONFIG_NAMES, discover_units, find_config_file
from reconciler.source.files import (
    FolderFiles,
    GitFiles,
    RepoFiles,
    SourceError,
    confine_path,
    open_repo_files,
)

__all__ = [
    "CONFIG_NAMES",
    "FolderFiles",
    "GitFiles",
    "RepoFiles",
    "SourceError",
    "confine_path",
    "discover_units",
    "find_config_file",
    "open_repo_files",
]
