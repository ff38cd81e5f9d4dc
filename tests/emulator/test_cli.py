"""``reconciler emulator`` runs on its own, as a user starts it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3

from reconciler.clock import EmulatorClock
from tests.conftest import EmulatorHandle, run_async


def test_the_emulator_command_serves_until_stopped(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yml"
    seed.write_text("ssm_parameters:\n  - {name: /from/seed, value: seeded}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline().strip()
            assert first.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:")
            endpoint = first.split("=", 1)[1]

            with urllib.request.urlopen(f"{endpoint}/_emulator/health", timeout=10) as response:
                assert json.load(response) == {"ok": True}
            ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=endpoint)
            assert ssm.get_parameter(Name="/from/seed")["Parameter"]["Value"] == "seeded"

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_a_missing_seed_file_is_an_error_that_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "--seed", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert str(missing) in result.stderr


def test_the_emulator_clock_lets_the_reconciler_wait_without_wall_time(
    emulator: EmulatorHandle,
) -> None:
    clock = EmulatorClock(emulator.endpoint)
    before = clock.now()

    run_async(clock.sleep(600))

    assert clock.now() == before + 600
