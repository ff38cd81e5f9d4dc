"""``reconciler demo --exit`` tells the whole story and says it went as told."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import DUMMY_ENV


def test_the_demo_tells_the_story_and_exits() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--exit", "--speed", "50"],
        env={**os.environ, **DUMMY_ENV},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for chapter in (
        "1. Merge to deploy",
        "2. A commit bumps",
        "3. Someone",
        "4. A commit ships",
        "5. Rollback by git revert",
        "status page: http://127.0.0.1:",
    ):
        assert chapter in result.stdout
    assert "NOT AS EXPECTED" not in result.stdout
    assert "The story went as told." in result.stdout
