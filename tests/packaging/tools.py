"""Where the packaging tests find the repository and the tools `make tools` installs.

The tools (helm, hadolint, kubernetes-validate) are pinned in the Makefile and
installed into `.tools/` beside the repository, never into the project's own
virtualenv. A missing tool fails the test, naming the target that installs it:
a check that silently skips is a check nobody runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CHART = REPO_ROOT / "helm"
FULL_VALUES = CHART / "ci" / "full-values.yaml"


def tool(name: str) -> str:
    """The path of an installed tool, or a failure that says how to install it."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(
            f"{name} is not installed in {TOOLS_BIN}: run `make tools` "
            "(`make chart` installs the tools and runs these tests)",
            pytrace=False,
        )
    return str(path)


def run_tool(
    name: str, *args: str, stdin: str | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; the caller reads the exit code and the output."""
    return subprocess.run(
        [tool(name), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str], command: Sequence[str] = ()) -> str:
    """The whole of a tool's answer, for assertion messages."""
    shown = " ".join(command) or " ".join(str(part) for part in result.args)
    return f"$ {shown}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
