"""The Go-template forms ecspresso users write, parsed and executed for real.

A template is text with actions in ``{{ }}``. We read the subset ecspresso
repositories use: pipelines of function calls (``{{ env `X` "dflt" | json_escape }}``),
double-quoted strings with Go escapes and raw backtick strings, numbers, booleans,
parenthesised pipelines, trim markers ``{{-``/``-}}``, comments ``{{/* */}}``, and
``if``/``else if``/``else``/``end``. Anything else (variables, ``range``,
``define``...) is refused with the line it is on, rather than guessed at.

Functions are given by the caller and may be coroutines, because some of them
look values up in AWS; :func:`execute_template` awaits them in order.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

TemplateFunction = Callable[..., Any | Awaitable[Any]]


class TemplateError(Exception):
    """A template cannot be parsed or executed; ``line`` is 1-based in its text."""

    def __init__(self, message: str, line: int | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


# The parsed template: a tree of nodes.


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Identifier:
    name: str
    line: int


@dataclass(frozen=True, slots=True)
class Dot:
    pass


@dataclass(frozen=True, slots=True)
class Command:
    operands: tuple[Operand, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Command, ...]
    line: int


Operand = Union[Literal, Identifier, Dot, Pipeline]  # noqa: UP007 (a forward-referenced alias)


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Action:
    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Pipeline
    body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class IfNode:
    branches: tuple[Branch, ...]
    otherwise: tuple[Node, ...]
    line: int


Node = Union[Text, Action, IfNode]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Template:
    nodes: tuple[Node, ...]


# Lexing: the text is split into text and action tokens; an action's inside is
# split into words. Both keep the line they start on.


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, string, number, bool, nil, pipe, lparen, rparen, dot, keyword
    value: Any
    line: int


@dataclass(frozen=True, slots=True)
class _RawAction:
    tokens: tuple[_Token, ...]
    line: int


KEYWORDS = frozenset({"if", "else", "end"})
UNSUPPORTED_KEYWORDS = frozenset(
    {"range", "with", "define", "template", "block", "break", "continue"}
)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def _advance(self, count: int) -> str:
        chunk = self.text[self.pos : self.pos + count]
        self.line += chunk.count("\n")
        self.pos += count
        return chunk

    def split(self) -> list[str | _RawAction]:
        """Text and actions in order, with trim markers already applied."""
        parts: list[str | _RawAction] = []
        while self.pos < len(self.text):
            start = self.text.find("{{", self.pos)
            if start < 0:
                parts.append(self._advance(len(self.text) - self.pos))
                break
            text = self._advance(start - self.pos)
            action_line = self.line
            self._advance(2)
            if (
                self.text.startswith("- ", self.pos)
                or self.text.startswith("-\t", self.pos)
                or (self.text.startswith("-\n", self.pos))
            ):
                text = text.rstrip(" \t\r\n")
                self._advance(1)
            parts.append(text)
            tokens, trim_right = self._action(action_line)
            if tokens is not None:
                parts.append(_RawAction(tuple(tokens), action_line))
            if trim_right:
                rest = self.text[self.pos :]
                self._advance(len(rest) - len(rest.lstrip(" \t\r\n")))
        return parts

    def _action(self, start_line: int) -> tuple[list[_Token] | None, bool]:
        """The tokens of one action (None for a comment), and whether it trims right."""
        self._skip_space()
        if self.text.startswith("/*", self.pos):
            end = self.text.find("*/", self.pos + 2)
            if end < 0:
                raise TemplateError("unclosed comment", start_line, "close it with */}}")
            self._advance(end + 2 - self.pos)
            return None, self._close(start_line)
        tokens: list[_Token] = []
        while True:
            self._skip_space()
            if self.pos >= len(self.text):
                raise TemplateError(
                    "unterminated action: '{{' without a matching '}}'",
                    start_line,
                    "close the action with }}",
                )
            if self.text.startswith("}}", self.pos) or self.text.startswith("-}}", self.pos):
                return tokens, self._close(start_line)
            tokens.append(self._token())

    def _close(self, start_line: int) -> bool:
        self._skip_space()
        if self.text.startswith("-}}", self.pos):
            self._advance(3)
            return True
        if self.text.startswith("}}", self.pos):
            self._advance(2)
            return False
        raise TemplateError(
            "unterminated action: '{{' without a matching '}}'",
            start_line,
            "close the action with }}",
        )

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self._advance(1)

    def _token(self) -> _Token:
        char = self.text[self.pos]
        line = self.line
        if char == "|":
            self._advance(1)
            return _Token("pipe", "|", line)
        if char == "(":
            self._advance(1)
            return _Token("lparen", "(", line)
        if char == ")":
            self._advance(1)
            return _Token("rparen", ")", line)
        if char == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise TemplateError("unterminated raw string", line, "close it with a backtick")
            value = self._advance(end + 1 - self.pos)[1:-1]
            return _Token("string", value, line)
        if char == '"':
            return _Token("string", self._quoted(), line)
        if char == "'":
            raise TemplateError(
                "single quotes are characters in Go templates, not strings",
                line,
                'use "double quotes" or `backticks` for strings',
            )
        if char == "." and not self.text[self.pos + 1 : self.pos + 2].isalnum():
            self._advance(1)
            return _Token("dot", ".", line)
        if char.isdigit() or (char in "+-" and self.text[self.pos + 1 : self.pos + 2].isdigit()):
            return self._number()
        if char.isalpha() or char == "_":
            end = self.pos
            while end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_"):
                end += 1
            word = self._advance(end - self.pos)
            if word in ("true", "false"):
                return _Token("bool", word == "true", line)
            if word == "nil":
                return _Token("nil", None, line)
            if word in KEYWORDS:
                return _Token("keyword", word, line)
            return _Token("ident", word, line)
        if char in "$.":
            raise TemplateError(
                f"template variables and fields ({char}...) are not supported",
                line,
                "call functions such as env, must_env or ssm instead",
            )
        if char == "}":
            raise TemplateError(
                "unterminated action: '{{' without a matching '}}'",
                line,
                "close the action with }}",
            )
        raise TemplateError(f"unexpected character {char!r} in action", line)

    def _quoted(self) -> str:
        line = self.line
        self._advance(1)
        out: list[str] = []
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise TemplateError("unterminated quoted string", line, 'close it with "')
            char = self._advance(1)
            if char == '"':
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            code = self._advance(1)
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
            elif code in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[code]
                digits = self._advance(width)
                try:
                    out.append(chr(int(digits, 16)))
                except ValueError as exc:
                    raise TemplateError(f"bad escape \\{code}{digits}", line) from exc
            else:
                raise TemplateError(f"unknown escape sequence \\{code}", line)

    def _number(self) -> _Token:
        line = self.line
        end = self.pos + 1
        while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._"):
            end += 1
        word = self._advance(end - self.pos)
        try:
            value: int | float = int(word.replace("_", ""), 0)
        except ValueError:
            try:
                value = float(word.replace("_", ""))
            except ValueError as exc:
                raise TemplateError(f"bad number {word!r}", line) from exc
        return _Token("number", value, line)


# Parsing: actions into pipelines, and if/else/end into a tree.


class _Parser:
    def __init__(self, parts: list[str | _RawAction]) -> None:
        self.parts = parts
        self.index = 0

    def parse(self) -> Template:
        nodes, stop = self._nodes()
        if stop is not None:
            raise TemplateError(f"unexpected {{{{ {stop[0]} }}}} without an if", stop[1].line)
        return Template(tuple(nodes))

    def _nodes(self) -> tuple[list[Node], tuple[str, _RawAction] | None]:
        """Nodes up to an ``else``/``end`` (returned as the stop) or the end of text."""
        nodes: list[Node] = []
        while self.index < len(self.parts):
            part = self.parts[self.index]
            self.index += 1
            if isinstance(part, str):
                if part:
                    nodes.append(Text(part))
                continue
            if not part.tokens:
                raise TemplateError("empty action {{ }}", part.line)
            head = part.tokens[0]
            if head.kind == "keyword" and head.value in ("else", "end"):
                return nodes, (head.value, part)
            if head.kind == "keyword" and head.value == "if":
                nodes.append(self._if(part))
                continue
            if head.kind == "ident" and head.value in UNSUPPORTED_KEYWORDS:
                raise TemplateError(
                    f"{{{{ {head.value} }}}} is not supported",
                    part.line,
                    "use function calls and if/else/end only",
                )
            nodes.append(Action(_parse_pipeline(list(part.tokens), part.line)))
        return nodes, None

    def _if(self, opening: _RawAction) -> IfNode:
        branches: list[Branch] = []
        condition = _parse_pipeline(list(opening.tokens[1:]), opening.line)
        while True:
            body, stop = self._nodes()
            if stop is None:
                raise TemplateError(
                    "{{ if }} without a matching {{ end }}", opening.line, "add {{ end }}"
                )
            branches.append(Branch(condition, tuple(body)))
            word, action = stop
            if word == "end":
                if len(action.tokens) > 1:
                    raise TemplateError("unexpected words after end", action.line)
                return IfNode(tuple(branches), (), opening.line)
            rest = action.tokens[1:]
            if rest and rest[0].kind == "keyword" and rest[0].value == "if":
                condition = _parse_pipeline(list(rest[1:]), action.line)
                continue
            if rest:
                raise TemplateError("unexpected words after else", action.line)
            otherwise, stop = self._nodes()
            if stop is None or stop[0] != "end":
                raise TemplateError(
                    "{{ else }} without a matching {{ end }}", action.line, "add {{ end }}"
                )
            return IfNode(tuple(branches), tuple(otherwise), opening.line)


def _parse_pipeline(tokens: list[_Token], line: int) -> Pipeline:
    pipeline, rest = _pipeline(tokens, line)
    if rest:
        raise TemplateError(f"unexpected {rest[0].value!r} in action", rest[0].line)
    return pipeline


def _pipeline(tokens: list[_Token], line: int) -> tuple[Pipeline, list[_Token]]:
    commands: list[Command] = []
    operands: list[Operand] = []
    while tokens:
        token = tokens[0]
        if token.kind == "rparen":
            break
        tokens = tokens[1:]
        if token.kind == "pipe":
            if not operands:
                raise TemplateError("missing command before '|'", token.line)
            commands.append(Command(tuple(operands), token.line))
            operands = []
        elif token.kind == "lparen":
            inner, tokens = _pipeline(tokens, token.line)
            if not tokens or tokens[0].kind != "rparen":
                raise TemplateError("unclosed '(' in action", token.line, "add ')'")
            tokens = tokens[1:]
            operands.append(inner)
        elif token.kind == "ident":
            operands.append(Identifier(token.value, token.line))
        elif token.kind == "dot":
            operands.append(Dot())
        elif token.kind == "keyword":
            raise TemplateError(f"unexpected {token.value!r} in action", token.line)
        else:
            operands.append(Literal(token.value))
    if not operands:
        raise TemplateError("missing command in action", line)
    commands.append(Command(tuple(operands), line))
    return Pipeline(tuple(commands), line), tokens


def parse_template(text: str) -> Template:
    """Parse a template; :class:`TemplateError` names the line of what is wrong."""
    return _Parser(_Lexer(text).split()).parse()


# Execution.


def go_string(value: Any) -> str:
    """A value as Go's template engine prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def truthy(value: Any) -> bool:
    """Go's notion of true: non-zero, non-empty, not nil."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def json_escape(value: Any) -> str:
    """Escape a string for use inside a JSON string literal (no quotes around)."""
    return json.dumps(go_string(value), ensure_ascii=False)[1:-1]


def _go_printf(fmt: Any, *args: Any) -> str:
    # Go verbs %s, %d, %v and %q cover what definitions use; others are refused.
    out: list[str] = []
    text = go_string(fmt)
    values = list(args)
    index = 0
    while index < len(text):
        char = text[index]
        if char != "%" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        verb = text[index + 1]
        index += 2
        if verb == "%":
            out.append("%")
            continue
        if not values:
            out.append(f"%!{verb}(MISSING)")
            continue
        value = values.pop(0)
        if verb in "svd":
            out.append(go_string(value))
        elif verb == "q":
            out.append(json.dumps(go_string(value), ensure_ascii=False))
        else:
            raise ValueError(f"printf verb %{verb} is not supported; use %s, %d, %v or %q")
    return "".join(out)


BUILTINS: Mapping[str, TemplateFunction] = {
    "json_escape": json_escape,
    "printf": _go_printf,
    "print": lambda *args: "".join(go_string(a) for a in args),
    "not": lambda value: not truthy(value),
    "and": lambda *args: next((a for a in args if not truthy(a)), args[-1] if args else None),
    "or": lambda *args: next((a for a in args if truthy(a)), args[-1] if args else None),
    "eq": lambda first, *others: any(first == other for other in others),
    "ne": lambda first, other: first != other,
    "len": lambda value: len(value),
}
"""Go's own template builtins that ecspresso repositories use, and ecspresso's
``json_escape``."""


class FunctionFailed(Exception):
    """A template function refused its arguments; the message says why."""


async def execute_template(template: Template, functions: Mapping[str, TemplateFunction]) -> str:
    """The template's output, calling ``functions`` (and the builtins) as written."""
    table = {**BUILTINS, **functions}
    out: list[str] = []
    await _run(template.nodes, table, out)
    return "".join(out)


async def render_template(text: str, functions: Mapping[str, TemplateFunction]) -> str:
    """Parse and execute ``text``; plain text without actions is returned as is."""
    if "{{" not in text:
        return text
    return await execute_template(parse_template(text), functions)


async def _run(
    nodes: tuple[Node, ...], table: Mapping[str, TemplateFunction], out: list[str]
) -> None:
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Action):
            out.append(go_string(await _pipe(node.pipeline, table)))
        else:
            for branch in node.branches:
                if truthy(await _pipe(branch.condition, table)):
                    await _run(branch.body, table, out)
                    break
            else:
                await _run(node.otherwise, table, out)


async def _pipe(pipeline: Pipeline, table: Mapping[str, TemplateFunction]) -> Any:
    result: Any = None
    for position, command in enumerate(pipeline.commands):
        piped = (result,) if position > 0 else ()
        result = await _command(command, table, piped)
    return result


async def _command(
    command: Command, table: Mapping[str, TemplateFunction], piped: tuple[Any, ...]
) -> Any:
    head, *rest = command.operands
    if not isinstance(head, Identifier):
        if rest or piped:
            raise TemplateError("only a function can take arguments", command.line)
        return await _operand(head, table)
    arguments = [await _operand(o, table) for o in rest]
    return await _call(head, [*arguments, *piped], table)


async def _operand(operand: Operand, table: Mapping[str, TemplateFunction]) -> Any:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Identifier):
        return await _call(operand, [], table)
    if isinstance(operand, Pipeline):
        return await _pipe(operand, table)
    return None


async def _call(
    name: Identifier, arguments: list[Any], table: Mapping[str, TemplateFunction]
) -> Any:
    function = table.get(name.name)
    if function is None:
        known = ", ".join(sorted(table))
        raise TemplateError(
            f'function "{name.name}" is not defined',
            name.line,
            f"use one of: {known} (plugin functions need their plugin in the config)",
        )
    try:
        result = function(*arguments)
        if inspect.isawaitable(result):
            result = await result
    except TemplateError as exc:
        if exc.line is None:
            raise TemplateError(exc.message, name.line, exc.hint) from exc
        raise
    except (FunctionFailed, TypeError, ValueError, IndexError, KeyError) as exc:
        raise TemplateError(f"{name.name}: {exc}", name.line) from exc
    return result
