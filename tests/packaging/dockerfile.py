"""Just enough of a Dockerfile reader to check what the final image is made of."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    argument: str
    line: int


@dataclass(frozen=True, slots=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def read_instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, argument = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), argument.strip(), start))
    return instructions


def read_stages(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    current: list[Instruction] = []
    base, name = "", None
    for instruction in read_instructions(path):
        if instruction.keyword == "FROM":
            if base:
                stages.append(Stage(base, name, tuple(current)))
            words = instruction.argument.split()
            base = words[0]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            current = []
        elif base:
            current.append(instruction)
    stages.append(Stage(base, name, tuple(current)))
    return stages


def read_env(stage: Stage) -> dict[str, str]:
    """The stage's ENV settings (KEY=VALUE form), in order."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.argument):
            key, sep, value = word.partition("=")
            assert sep, f"line {instruction.line}: ENV without '=' is not used in this file"
            env[key] = value
    return env


def read_args(path: Path) -> dict[str, str]:
    """ARG defaults from anywhere in the file (names are unique in ours)."""
    args: dict[str, str] = {}
    for instruction in read_instructions(path):
        if instruction.keyword == "ARG" and "=" in instruction.argument:
            key, _, value = instruction.argument.partition("=")
            args[key] = value
    return args


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], text)
