"""The functions a unit's templates and Jsonnet call, bound to that unit.

Variables are read first from what the unit commits (``vars`` in
``reconciler.yml`` and the env file it names), then from the reconciler's own
environment; names read from the environment are remembered, because a value
that is not in git cannot be brought back by a revert.

Lookup results from secrets (SSM SecureString, Secrets Manager) are remembered
too, so the rendered unit can say which fields hold them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from reconciler.aws import AwsTarget
from reconciler.desired.lookups import (
    LookupFailed,
    Lookups,
    lookup_terraform_state,
    state_value_text,
)
from reconciler.desired.template import FunctionFailed, TemplateFunction, go_string
from reconciler.errors import TransientError
from reconciler.source import confine_path

T = TypeVar("T")

PLUGIN_NAMES = frozenset({"tfstate", "ssm", "secretsmanager", "cloudformation"})


class Variables:
    """``env``/``must_env`` lookups: committed values first, then the environment."""

    def __init__(self, committed: Mapping[str, str], environment: Mapping[str, str]) -> None:
        self._committed = dict(committed)
        self._environment = environment
        self.unpinned: set[str] = set()
        # Every name looked for in the environment, set there or not: a render
        # cached with a default stands only while the variable stays unset.
        self.asked: set[str] = set()

    def get(self, name: str) -> str | None:
        if name in self._committed:
            return self._committed[name]
        self.asked.add(name)
        value = self._environment.get(name)
        if value is not None:
            self.unpinned.add(name)
        return value

    @property
    def committed(self) -> Mapping[str, str]:
        return self._committed

    def env(self, *names: Any) -> str:
        """First set (non-empty) variable among the names; the last argument is the
        default when there are two or more."""
        if not names:
            raise FunctionFailed("env needs a variable name")
        candidates = names if len(names) == 1 else names[:-1]
        for name in candidates:
            value = self.get(go_string(name))
            if value:
                return value
        return "" if len(names) == 1 else go_string(names[-1])

    def must_env(self, *names: Any) -> str:
        if len(names) != 1:
            raise FunctionFailed(f"must_env takes one variable name, got {len(names)} arguments")
        name = go_string(names[0])
        value = self.get(name)
        if value is None:
            raise FunctionFailed(
                f"variable {name} is not set; commit it under vars: in the unit's "
                "reconciler.yml (or its env file), or set it in the environment"
            )
        return value


class UnitFunctions:
    """Template functions and Jsonnet native functions for one unit's render."""

    def __init__(
        self,
        *,
        variables: Variables,
        lookups: Lookups,
        target: AwsTarget,
        plugins: tuple[Mapping[str, Any], ...],
        unit_path: str,
    ) -> None:
        self.variables = variables
        self.secret_values: set[str] = set()
        self.files_read: list[str] = []
        # Whether the render asked AWS (or a state file) for a value, which no
        # tree id vouches for.
        self.looked_up = False
        self._lookups = lookups
        self._target = target
        self._plugins = plugins
        self._unit_path = unit_path

    # The functions themselves.

    async def ssm(self, *args: Any) -> str:
        if len(args) not in (1, 2):
            raise FunctionFailed("ssm takes a parameter name and an optional list index")
        name = go_string(args[0])
        value, kind = await self._lookup(self._lookups.ssm_parameter(self._target, name))
        if kind == "SecureString":
            self.secret_values.add(value)
        if len(args) == 1:
            return value
        if kind != "StringList":
            raise FunctionFailed(f"ssm {name}: an index needs a StringList parameter, not {kind}")
        items = value.split(",")
        index = args[1]
        if isinstance(index, float) and index.is_integer():
            index = int(index)  # Jsonnet numbers arrive as floats
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            raise FunctionFailed(
                f"ssm {name}: index {index!r} is out of range (the list has {len(items)} items)"
            )
        return items[index]

    async def secretsmanager_arn(self, *args: Any) -> str:
        if len(args) != 1:
            raise FunctionFailed("secretsmanager_arn takes one secret name")
        arn = await self._lookup(self._lookups.secret_arn(self._target, go_string(args[0])))
        self.secret_values.add(arn)
        return arn

    async def cfn_output(self, *args: Any) -> str:
        if len(args) != 2:
            raise FunctionFailed("cfn_output takes a stack name and an output key")
        return await self._lookup(
            self._lookups.stack_output(self._target, go_string(args[0]), go_string(args[1]))
        )

    async def cfn_export(self, *args: Any) -> str:
        if len(args) != 1:
            raise FunctionFailed("cfn_export takes one export name")
        return await self._lookup(self._lookups.stack_export(self._target, go_string(args[0])))

    def tfstate_functions(self, location: str) -> tuple[TemplateFunction, TemplateFunction]:
        """``tfstate`` and ``tfstatef`` reading the state at ``location``."""

        async def tfstate(*args: Any) -> str:
            if len(args) != 1:
                raise FunctionFailed("tfstate takes one resource address")
            state = await self._lookup(self._lookups.terraform_state(self._target, location))
            if not location.startswith("s3://") and location not in self.files_read:
                self.files_read.append(location)
            try:
                return state_value_text(lookup_terraform_state(state, go_string(args[0])))
            except LookupFailed as exc:
                raise FunctionFailed(str(exc)) from exc

        async def tfstatef(*args: Any) -> str:
            if not args:
                raise FunctionFailed("tfstatef takes a format and its arguments")
            address = go_string(args[0])
            values = [go_string(a) for a in args[1:]]
            if address.count("%s") != len(values):
                raise FunctionFailed(
                    f"tfstatef: {address!r} has {address.count('%s')} %s, given {len(values)}"
                )
            for value in values:
                address = address.replace("%s", value, 1)
            return await tfstate(address)

        return tfstate, tfstatef

    async def _lookup(self, pending: Awaitable[T]) -> T:
        self.looked_up = True
        try:
            return await pending
        except LookupFailed as exc:
            # Throttling or an outage is not the unit's fault: let it through as
            # the transient AWS error it is, so the unit is retried, not failed.
            if exc.transient and isinstance(exc.__cause__, TransientError):
                raise exc.__cause__ from exc
            raise FunctionFailed(str(exc)) from exc

    # What a template may call.

    def template_functions(self) -> dict[str, TemplateFunction]:
        functions: dict[str, TemplateFunction] = {
            "env": self.variables.env,
            "must_env": self.variables.must_env,
            # ecspresso has these two without any plugin configured.
            "ssm": self.ssm,
            "secretsmanager_arn": self.secretsmanager_arn,
        }
        for plugin in self._plugins:
            prefix = str(plugin.get("func_prefix") or "")
            name = plugin["name"]
            if name == "ssm":
                functions[f"{prefix}ssm"] = self.ssm
            elif name == "secretsmanager":
                functions[f"{prefix}secretsmanager_arn"] = self.secretsmanager_arn
            elif name == "cloudformation":
                functions[f"{prefix}cfn_output"] = self.cfn_output
                functions[f"{prefix}cfn_export"] = self.cfn_export
            elif name == "tfstate":
                tfstate, tfstatef = self.tfstate_functions(self.tfstate_location(plugin))
                functions[f"{prefix}tfstate"] = tfstate
                functions[f"{prefix}tfstatef"] = tfstatef
        return functions

    def tfstate_location(self, plugin: Mapping[str, Any]) -> str:
        """Where a tfstate plugin's state is: ``s3://...`` or a path from the repo root."""
        config = plugin.get("config") or {}
        url = config.get("url")
        path = config.get("path")
        if url:
            url = str(url)
            if url.startswith("s3://"):
                return url
            if url.startswith("file://"):
                path = url[len("file://") :]
            else:
                raise FunctionFailed(
                    f"tfstate url {url!r} is not supported; use s3:// or a path in the repository"
                )
        if not path:
            raise FunctionFailed("the tfstate plugin needs config.path or config.url")
        try:
            return confine_path(str(path), base=self._unit_path)
        except ValueError as exc:
            raise FunctionFailed(f"tfstate path: {exc}") from exc

    # What Jsonnet may call: std.native('name')(...). Jsonnet runs in a worker
    # thread; lookups run on the event loop and the thread waits for them.

    def native_callbacks(
        self, loop: asyncio.AbstractEventLoop
    ) -> dict[str, tuple[tuple[str, ...], Callable[..., Any]]]:
        def blocking(function: TemplateFunction) -> Callable[..., Any]:
            def call(*args: Any) -> Any:
                result = function(*args)
                if asyncio.iscoroutine(result):
                    return asyncio.run_coroutine_threadsafe(result, loop).result()
                return result

            return call

        templates = self.template_functions()
        # Parameter names are one letter: _jsonnet 0.22 mixes up longer ones.
        natives: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
            "env": (("a", "b"), blocking(self.variables.env)),
            "must_env": (("a",), blocking(self.variables.must_env)),
            "ssm": (("a",), blocking(self.ssm)),
            "ssm_list": (("a", "b"), blocking(self.ssm)),
            "secretsmanager_arn": (("a",), blocking(self.secretsmanager_arn)),
        }
        for name, function in templates.items():
            if name.endswith(("tfstate", "cfn_export")):
                natives[name] = (("a",), blocking(function))
            elif name.endswith("cfn_output"):
                natives[name] = (("a", "b"), blocking(function))
        return natives
