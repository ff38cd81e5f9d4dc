"""The embedded emulator: moto plus our own ECS, on one loopback port.

Start one with::

    emulator = Emulator(port=0, auto_tick=None, seed=path)
    emulator.start()
    ...  # boto3 clients with endpoint_url=emulator.endpoint
    emulator.stop()

or from the shell with ``reconciler emulator``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import yaml

from reconciler.emulator import moto_bridge
from reconciler.emulator.control import Control
from reconciler.emulator.faults import Faults
from reconciler.emulator.hooks import HookAnswers
from reconciler.emulator.seed import ACCOUNT_ID, Seeder, SeedError
from reconciler.emulator.server import EmulatorApp
from reconciler.emulator.simclock import SimClock, Ticker

log = logging.getLogger(__name__)


class Emulator:
    """One emulator: its clock, its backends, its faults, its HTTP server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auto_tick: float | None = None,
        seed: Path | None = None,
        start_time: float | None = None,
    ) -> None:
        from reconciler.emulator.codedeploy import CodeDeployBackend
        from reconciler.emulator.ecs import EcsBackend

        self.host = host
        self.port = port
        self.clock = SimClock(start_time)
        self.faults = Faults()
        self.hooks = HookAnswers()
        traffic = moto_bridge.MotoTraffic(ACCOUNT_ID)
        self.ecs = EcsBackend(self.clock.now, ACCOUNT_ID, traffic=traffic, hooks=self.hooks)
        self.codedeploy = CodeDeployBackend(
            self.clock.now, self.ecs, traffic, self.hooks, account_id=ACCOUNT_ID
        )
        self.ticker = Ticker(self.clock, self._step)
        self.failing_images: list[str] = []
        self._auto_tick = auto_tick
        self._seed_path = seed
        self._server: Any = None
        self._thread: threading.Thread | None = None
        moto_bridge.link_autoscaling_to_ecs(self.ecs.service_exists)
        self.app = EmulatorApp(
            moto_app=moto_bridge.create_moto_app(),
            backends={"ecs": self.ecs, "codedeploy": self.codedeploy},
            faults=self.faults,
            control=Control(self),
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        from werkzeug.serving import make_server

        # One access-log line per AWS call would drown everything else.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(
            self.host,
            self.port,
            self.app,
            threaded=True,
            request_handler=moto_bridge.request_handler(),
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="emulator-http", daemon=True
        )
        self._thread.start()
        if self._seed_path is not None:
            self.apply_seed(load_seed_file(self._seed_path))
        if self._auto_tick:
            self.ticker.run_automatically(self._auto_tick)

    def stop(self) -> None:
        self.ticker.stop_automatic()
        self.faults.clear()  # lets held calls finish, so the server can stop
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def reset(self) -> None:
        """Forget every resource, rule and count; the clock keeps its time but stops running."""
        self.ticker.stop_automatic()
        self.faults.clear()
        self.faults.reset_stats()
        moto_bridge.reset_moto()
        self.ecs.reset()
        self.codedeploy.reset()
        self.hooks.clear()
        self.set_failing_images([])

    def set_failing_images(self, images: list[str]) -> None:
        self.failing_images = list(images)
        self.ecs.set_failing_images(images)

    def apply_seed(self, document: Any) -> dict[str, str]:
        return Seeder(self.endpoint, self.ecs.set_container_instances).apply(document)

    def _step(self) -> None:
        # ECS first: CodeDeploy reads the task sets ECS has just moved along.
        self.ecs.advance()
        self.codedeploy.advance()


def load_seed_file(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SeedError(f"seed file {path} is not valid YAML: {exc}") from exc
