"""The commands on sample-repo, whose units look values up in the emulator."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
import yaml

from tests.conftest import EmulatorHandle
from tests.gitedit.repos import exit_code, head_text, make_repo

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def sample_copy(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> pygit2.Repository:
    """sample-repo committed in a fresh working copy, the emulator seeded for it."""
    emulator.seed(yaml.safe_load((SAMPLE_REPO / "emulator-seed.yml").read_text()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    files = {
        str(p.relative_to(SAMPLE_REPO)): p.read_text()
        for p in sorted(SAMPLE_REPO.rglob("*"))
        if p.is_file()
    }
    return make_repo(tmp_path, files)


@pytest.mark.parametrize(
    ("unit", "container", "tag", "before"),
    [
        pytest.param("api", "app", "1.5.0", 'IMAGE_TAG: "1.4.2"', id="jsonnet-api"),
        pytest.param("frontend", "web", "2.9.0", 'IMAGE_TAG: "2.8.0"', id="json-frontend"),
    ],
)
def test_ci_sets_a_sample_units_image_by_its_committed_tag(
    sample_copy: pygit2.Repository,
    tmp_path: Path,
    unit: str,
    container: str,
    tag: str,
    before: str,
) -> None:
    image = f"{REGISTRY}/{unit}:{tag}"
    path = f"{unit}/reconciler.yml"
    original = head_text(sample_copy, path)

    code = exit_code(
        ["set-image", unit, container, image, "--repo", str(tmp_path), "-m", "CI build 42"]
    )

    assert code == 0
    assert head_text(sample_copy, path) == original.replace(before, f'IMAGE_TAG: "{tag}"')
    assert "CI build 42" in sample_copy.head.peel(pygit2.Commit).message
    assert sample_copy.status() == {}


def test_scaling_a_sample_unit_under_auto_scaling_is_refused(
    sample_copy: pygit2.Repository, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = sample_copy.head.target

    assert exit_code(["scale", "batch", "--tasks", "4", "--repo", str(tmp_path)]) == 1

    assert sample_copy.head.target == head
    assert "autoscaling min 1, max 10" in capsys.readouterr().err
