"""Evaluating a unit's Jsonnet, with imports confined to the repository.

Imports are read through :class:`~reconciler.source.RepoFiles`, so Jsonnet
renders the same from a folder and from a git revision, and an import that
leaves the repository is refused. Evaluation runs in a worker thread; native
functions that look values up hand the lookup back to the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _jsonnet

from reconciler.desired.problems import UnitError
from reconciler.source import RepoFiles, confine_path

# Jsonnet gets threads of its own: a native function in it waits for a lookup
# that may itself need a thread of the default pool, which must not be full of
# waiting Jsonnet evaluations.
EVALUATOR_THREADS = 16
_EVALUATORS = ThreadPoolExecutor(max_workers=EVALUATOR_THREADS, thread_name_prefix="jsonnet")

NativeCallbacks = Mapping[str, tuple[tuple[str, ...], Callable[..., Any]]]

_STATIC = re.compile(r"STATIC ERROR: (?P<file>[^\s:]+):(?P<line>\d+):[\d:-]*:? ?(?P<message>.*)")
_LOCATION = re.compile(r"^\s*(?P<file>[^\s:]+):\(?(?P<line>\d+):", re.MULTILINE)


def jsonnet_error(text: str, *, unit: str, file: str, read: list[str]) -> UnitError:
    """A Jsonnet error as a UnitError at the file and line Jsonnet names."""
    first, _, rest = text.strip().partition("\n")
    static = _STATIC.match(first)
    if static is not None:
        return UnitError(
            f"Jsonnet syntax error: {static['message']}",
            unit=unit,
            file=static["file"],
            line=int(static["line"]),
            hint="fix the Jsonnet syntax",
        )
    message = first.removeprefix("RUNTIME ERROR: ")
    location = _LOCATION.search(rest)
    where_file = location["file"] if location and location["file"] in read else file
    line = int(location["line"]) if location and location["file"] in read else None
    hint = "fix the Jsonnet expression"
    if "external variable" in message:
        hint = (
            "commit the variable under vars: in the unit's reconciler.yml (ext vars come from it)"
        )
    elif "couldn't open import" in message:
        hint = "import files inside the repository, by a path relative to the importing file"
    return UnitError(f"Jsonnet error: {message}", unit=unit, file=where_file, line=line, hint=hint)


async def evaluate_jsonnet(
    files: RepoFiles,
    path: str,
    *,
    unit: str,
    ext_vars: Mapping[str, str],
    natives: NativeCallbacks,
) -> tuple[str, list[str]]:
    """The JSON text a Jsonnet file at ``path`` (from the repo root) evaluates to,
    and the files it read (itself and its imports)."""
    source = files.read_bytes(path).decode("utf-8")
    read = [path]

    def load_import(folder: str, relative: str) -> tuple[str, bytes]:
        try:
            target = confine_path(relative, base=folder.rstrip("/") or ".")
        except ValueError as exc:
            raise RuntimeError(f"{exc}; imports must stay inside the repository") from exc
        try:
            content = files.read_bytes(target)
        except FileNotFoundError as exc:
            raise RuntimeError(f"no file {target} in the repository") from exc
        read.append(target)
        return target, content

    def evaluate() -> str:
        result: str = _jsonnet.evaluate_snippet(
            path,
            source,
            ext_vars=dict(ext_vars),
            import_callback=load_import,
            native_callbacks=dict(natives),
        )
        return result

    try:
        return await asyncio.get_running_loop().run_in_executor(_EVALUATORS, evaluate), read
    except RuntimeError as exc:
        raise jsonnet_error(str(exc), unit=unit, file=path, read=read) from exc
