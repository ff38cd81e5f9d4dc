"""Editing a unit's files in place, changing one value and nothing else.

A commit that changes a desired count or an image must read, in review, as
exactly that change: the rest of the file (indentation, key order, comments,
templates) stays as its author wrote it. So nothing here parses a file and
dumps it again. Each editor locates the text of one value and replaces that
text only:

- JSON definitions, which may hold Go-template actions both inside strings and
  as bare values (``"desiredCount": {{ must_env `COUNT` }}``), are scanned by a
  tolerant reader that keeps every value's span and says whether it is templated;
- Jsonnet is only edited where a plain literal can be found exactly once;
- ``reconciler.yml`` is edited line by line in its block mappings, then read
  back to check that the one key changed and nothing else;
- env files (``NAME=value``) keep their quoting.

The callers render the edited files (:class:`EditedFiles`) before committing,
so an edit that lands somewhere unexpected is caught before it reaches git.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.errors import PermanentError, Reason
from reconciler.source.files import RepoFiles


class EditRefused(PermanentError):
    """A change cannot be written safely as asked; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.USAGE, message)


@dataclass(frozen=True, slots=True)
class FileEdit:
    """A file's new content (``None`` removes it), by path from the repo root."""

    path: str
    content: bytes | None


class EditedFiles:
    """A :class:`RepoFiles` with some files replaced, added or removed.

    Used to render a unit as it will be after a commit, before making it.
    """

    def __init__(self, base: RepoFiles, edits: Mapping[str, bytes | None]) -> None:
        self._base = base
        self._edits = dict(edits)

    @property
    def revision(self) -> str | None:
        return None

    def read_bytes(self, path: str) -> bytes:
        normal = posixpath.normpath(path)
        if normal in self._edits:
            content = self._edits[normal]
            if content is None:
                raise FileNotFoundError(path)
            return content
        return self._base.read_bytes(path)

    def exists(self, path: str) -> bool:
        normal = posixpath.normpath(path)
        if normal in self._edits:
            return self._edits[normal] is not None
        return self._base.exists(path)

    def list_dir(self, path: str) -> list[str]:
        folder = posixpath.normpath(path)
        try:
            names = set(self._base.list_dir(path))
        except FileNotFoundError:
            names = set()
        for edited, content in self._edits.items():
            if posixpath.dirname(edited) in (folder, "" if folder == "." else folder):
                name = posixpath.basename(edited)
                if content is None:
                    names.discard(name)
                else:
                    names.add(name)
        if not names and folder != ".":
            raise FileNotFoundError(path)
        return sorted(names)

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        for folder, subfolders, files in self._base.walk():
            names = set(files)
            for edited, content in self._edits.items():
                if (posixpath.dirname(edited) or ".") == folder:
                    name = posixpath.basename(edited)
                    if content is None:
                        names.discard(name)
                    else:
                        names.add(name)
            yield folder, subfolders, sorted(names)

    def tree_id(self, path: str) -> str | None:
        # Edited content has no tree id: nothing may be cached by it.
        return None


# JSON with Go-template actions.


@dataclass(frozen=True, slots=True)
class JsonValue:
    """One value of a templated JSON text: where it is and what it holds.

    ``kind`` is object, array, string, number, literal (true/false/null) or
    template (a bare template action, possibly with text around it).
    ``members`` holds an object's ``(key, value)`` pairs in order, ``items``
    an array's values.
    """

    kind: str
    start: int
    end: int
    templated: bool = False
    members: tuple[tuple[str, JsonValue], ...] = ()
    items: tuple[JsonValue, ...] = ()

    def source(self, text: str) -> str:
        return text[self.start : self.end]

    def value(self, text: str) -> Any:
        """The plain value of a literal that holds no template action."""
        if self.templated or self.kind in ("object", "array", "template"):
            raise ValueError("not a plain literal")
        return json.loads(self.source(text))

    def member(self, key: str) -> JsonValue | None:
        """The member named ``key``, tolerating the case of its first letter as
        ecspresso does."""
        for name, value in self.members:
            if name == key or (name[:1].lower() + name[1:]) == key:
                return value
        return None


class _Unreadable(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class _JsonReader:
    """Reads JSON with template actions, keeping spans; refuses what it cannot
    read rather than guessing (``{{ if }}`` blocks between members, for one)."""

    _DELIMITERS = ",}] \t\r\n"

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def read_document(self) -> JsonValue:
        self._skip_space()
        value = self._value()
        self._skip_space()
        if self.position != len(self.text):
            raise _Unreadable("text after the document", self.position)
        return value

    def _skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position] in " \t\r\n":
            self.position += 1

    def _peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.position)

    def _action(self) -> None:
        """Skips one ``{{ ... }}`` action, with the strings inside it."""
        start = self.position
        self.position += 2
        while self.position < len(self.text):
            char = self.text[self.position]
            if char in "\"`'":
                closing = self.text.find(char, self.position + 1)
                while char == '"' and closing > 0 and self.text[closing - 1] == "\\":
                    closing = self.text.find(char, closing + 1)
                if closing < 0:
                    break
                self.position = closing + 1
            elif self._peek("}}"):
                self.position += 2
                return
            else:
                self.position += 1
        raise _Unreadable("a template action is not closed", start)

    def _value(self) -> JsonValue:
        if self._peek("{{"):
            return self._template()
        if self._peek("{"):
            return self._object()
        if self._peek("["):
            return self._array()
        if self._peek('"'):
            return self._string()
        return self._literal()

    def _template(self) -> JsonValue:
        start = self.position
        while self.position < len(self.text):
            if self._peek("{{"):
                self._action()
            elif self.text[self.position] in self._DELIMITERS:
                break
            else:
                self.position += 1
        return JsonValue("template", start, self.position, templated=True)

    def _string(self) -> JsonValue:
        start = self.position
        self.position += 1
        templated = False
        while self.position < len(self.text):
            if self._peek("{{"):
                templated = True
                self._action()
                continue
            char = self.text[self.position]
            if char == "\\":
                self.position += 2
            elif char == '"':
                self.position += 1
                return JsonValue("string", start, self.position, templated=templated)
            else:
                self.position += 1
        raise _Unreadable("a string is not closed", start)

    def _literal(self) -> JsonValue:
        start = self.position
        while self.position < len(self.text) and self.text[self.position] not in self._DELIMITERS:
            if self._peek("{{"):
                self._action()
                return self._finish_template(start)
            self.position += 1
        source = self.text[start : self.position]
        if source in ("true", "false", "null"):
            return JsonValue("literal", start, self.position)
        try:
            json.loads(source)
        except ValueError as exc:
            raise _Unreadable(f"unexpected {source[:20]!r}", start) from exc
        return JsonValue("number", start, self.position)

    def _finish_template(self, start: int) -> JsonValue:
        value = self._template()
        return JsonValue("template", start, value.end, templated=True)

    def _object(self) -> JsonValue:
        start = self.position
        self.position += 1
        members: list[tuple[str, JsonValue]] = []
        self._skip_space()
        if self._peek("}"):
            self.position += 1
            return JsonValue("object", start, self.position)
        while True:
            self._skip_space()
            if not self._peek('"'):
                raise _Unreadable("expected a quoted key", self.position)
            key = self._string()
            if key.templated:
                raise _Unreadable("a templated key", key.start)
            self._skip_space()
            if not self._peek(":"):
                raise _Unreadable("expected ':'", self.position)
            self.position += 1
            self._skip_space()
            members.append((json.loads(key.source(self.text)), self._value()))
            self._skip_space()
            if self._peek(","):
                self.position += 1
                continue
            if self._peek("}"):
                self.position += 1
                return JsonValue("object", start, self.position, members=tuple(members))
            raise _Unreadable("expected ',' or '}'", self.position)

    def _array(self) -> JsonValue:
        start = self.position
        self.position += 1
        items: list[JsonValue] = []
        self._skip_space()
        if self._peek("]"):
            self.position += 1
            return JsonValue("array", start, self.position)
        while True:
            self._skip_space()
            items.append(self._value())
            self._skip_space()
            if self._peek(","):
                self.position += 1
                continue
            if self._peek("]"):
                self.position += 1
                return JsonValue("array", start, self.position, items=tuple(items))
            raise _Unreadable("expected ',' or ']'", self.position)


def read_templated_json(text: str, *, file: str) -> JsonValue:
    """The spans of a JSON text that may hold template actions."""
    try:
        return _JsonReader(text).read_document()
    except _Unreadable as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise EditRefused(
            f"{file}:{line}: cannot be edited safely ({exc}); edit it by hand"
        ) from exc


def definition_root(document: JsonValue, wrapper: str) -> JsonValue:
    """The definition object, unwrapped from ``{"taskDefinition": {...}}``."""
    inner = document.member(wrapper)
    if inner is not None and inner.kind == "object" and len(document.members) == 1:
        return inner
    return document


def find_container(task_definition: JsonValue, name: str, text: str) -> JsonValue | None:
    """The container definition named ``name`` (a plain string name)."""
    containers = task_definition.member("containerDefinitions")
    if containers is None or containers.kind != "array":
        return None
    for item in containers.items:
        named = item.member("name") if item.kind == "object" else None
        plain = named is not None and named.kind == "string" and not named.templated
        if plain and named is not None and named.value(text) == name:
            return item
    return None


def replace_value(text: str, value: JsonValue, replacement: Any) -> str:
    """``text`` with ``value``'s span replaced by ``replacement`` as JSON."""
    return text[: value.start] + json.dumps(replacement, ensure_ascii=False) + text[value.end :]


def insert_member(text: str, target: JsonValue, key: str, member: Any) -> str:
    """``text`` with ``"key": member`` added as the first member of the object
    ``target``, indented like its existing first member."""
    rendered = json.dumps(member, ensure_ascii=False)
    if not target.members:
        return f'{text[: target.start]}{{"{key}": {rendered}}}{text[target.end :]}'
    first = target.members[0][1]
    key_start = text.rfind('"', target.start, first.start)
    key_start = text.rfind('"', target.start, key_start)
    # The same space before the new member as before the first one had.
    between = text[target.start + 1 : key_start] or " "
    return f'{text[:key_start]}"{key}": {rendered},{between}{text[key_start:]}'


# Jsonnet: plain literals found exactly once.

_JSONNET_STRING = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def replace_jsonnet_string(text: str, current: str, replacement: str, *, file: str) -> str:
    """``text`` with the one string literal equal to ``current`` replaced.

    Refused when ``current`` is not written as one literal (it is computed, as
    in ``'repo:' + tag``) or is written more than once.
    """
    found = [m for m in _JSONNET_STRING.finditer(text) if _jsonnet_literal(m[0]) == current]
    if len(found) != 1:
        how = "is not written as one string literal" if not found else "is written more than once"
        raise EditRefused(
            f"{file}: {current!r} {how}, so it cannot be replaced safely; "
            "edit the Jsonnet by hand, or take the value from a committed variable"
        )
    match = found[0]
    quote = match[0][0]
    escaped = replacement.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{text[: match.start()]}{quote}{escaped}{quote}{text[match.end() :]}"


def _jsonnet_literal(source: str) -> str | None:
    body = source[1:-1]
    if source[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        decoded = json.loads(f'"{body}"')
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


def replace_jsonnet_number(
    text: str, field: str, current: int, replacement: int, *, file: str
) -> str:
    """``text`` with ``field: current`` (the one such field) set to ``replacement``."""
    pattern = re.compile(
        r"(?<![\w.$])(?P<key>(?P<q>['\"]?)" + re.escape(field) + r"(?P=q)\s*:{1,3}\s*)"
        r"(?P<number>-?\d+)(?=\s*[,}\n])"
    )
    found = list(pattern.finditer(text))
    if len(found) != 1 or int(found[0]["number"]) != current:
        raise EditRefused(
            f"{file}: {field} is not written once as the plain number {current}, so it "
            "cannot be changed safely; edit the Jsonnet by hand"
        )
    match = found[0]
    return f"{text[: match.start('number')]}{replacement}{text[match.end('number') :]}"


# reconciler.yml: block mappings, line by line.

_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/@+-]*")


def set_policy_values(
    text: str | None, section: str, values: Mapping[str, str | int], *, file: str
) -> str:
    """``text`` (a ``reconciler.yml``, ``None`` when it does not exist yet) with
    ``section.key`` set to each of ``values``, other lines untouched."""
    source = text or ""
    before = _load_yaml(source, file)
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for key, value in values.items():
        lines = _set_line(lines, section, key, value, file)
    edited = "".join(lines)

    # Read it back: exactly the keys asked for changed, and nothing else.
    expected = dict(before)
    expected[section] = {**(before.get(section) or {}), **values}
    if _load_yaml(edited, file) != expected:
        raise EditRefused(
            f"{file}: editing {section} would change more than asked (flow style or "
            f"anchors?); write {section} as a block mapping, or edit it by hand"
        )
    return edited


def _load_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise EditRefused(f"{file} is not valid YAML: {exc}; fix it first") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise EditRefused(f"{file} is not a mapping of keys; fix it first")
    return loaded


_KEY_LINE = re.compile(
    r"^(?P<indent>[ ]*)(?P<key>[A-Za-z0-9_.-]+)[ ]*:(?P<rest>.*?)(?P<eol>\r?\n)?$"
)


def _set_line(lines: list[str], section: str, key: str, value: str | int, file: str) -> list[str]:
    # The section's own line, at the top level.
    header = None
    for number, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match and not match["indent"] and match["key"] == section:
            header = number
            inline = match["rest"].strip()
            if inline and not inline.startswith("#"):
                raise EditRefused(
                    f"{file}:{number + 1}: {section} is written inline; write it as a "
                    "block mapping (one key per line) or edit it by hand"
                )
    if header is None:
        return [*lines, f"{section}:\n", f"  {key}: {_yaml_scalar(value, None)}\n"]

    # The section's block: the indented, blank and comment lines after it.
    end = header + 1
    last_member = header
    indent = None
    while end < len(lines):
        stripped = lines[end].strip()
        if stripped and not lines[end].startswith((" ", "\t")) and not stripped.startswith("#"):
            break
        if stripped and not stripped.startswith("#"):
            last_member = end
            if indent is None:
                indent = lines[end][: len(lines[end]) - len(lines[end].lstrip(" "))]
        end += 1
    indent = indent or "  "
    for number in range(header + 1, last_member + 1):
        match = _KEY_LINE.match(lines[number])
        if match and match["indent"] == indent and match["key"] == key:
            written, comment = _split_comment(match["rest"])
            replaced = f"{indent}{key}: {_yaml_scalar(value, written.strip())}{comment}\n"
            return [*lines[:number], replaced, *lines[number + 1 :]]
    added = f"{indent}{key}: {_yaml_scalar(value, None)}\n"
    return [*lines[: last_member + 1], added, *lines[last_member + 1 :]]


def _split_comment(rest: str) -> tuple[str, str]:
    """A value's text and its trailing comment (with the space before it)."""
    stripped = rest.strip()
    if stripped[:1] in ("'", '"'):
        quote = stripped[0]
        position = rest.index(quote) + 1
        while position < len(rest):
            if rest[position] == "\\" and quote == '"':
                position += 2
                continue
            if rest[position] == quote:
                if quote == "'" and rest[position + 1 : position + 2] == "'":
                    position += 2
                    continue
                break
            position += 1
        return rest[: position + 1], rest[position + 1 :].rstrip("\r\n")
    hash_at = rest.find(" #")
    if hash_at < 0:
        return rest, ""
    value_end = len(rest[:hash_at].rstrip())
    return rest[:value_end], rest[value_end:].rstrip("\r\n")


def _yaml_scalar(value: str | int, written: str | None) -> str:
    """``value`` as YAML, quoted as the value it replaces was (double quotes for
    a new string: ``1.10`` unquoted would be read as a number)."""
    if isinstance(value, int):
        return str(value)
    if written is not None and written.startswith("'") and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    plain = written is not None and written != "" and written[0] not in "'\""
    if plain and _PLAIN_SAFE.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


# Env files: NAME=value lines.


def set_env_value(text: str, name: str, value: str, *, file: str) -> str:
    """``text`` (an env file) with the last definition of ``name`` set to ``value``."""
    lines = text.splitlines(keepends=True)
    pattern = re.compile(
        r"^(?P<lead>\s*(?:export\s+)?" + re.escape(name) + r"\s*=\s*)(?P<value>.*?)\s*$"
    )
    for number in range(len(lines) - 1, -1, -1):
        match = pattern.match(lines[number].rstrip("\r\n"))
        if match is None:
            continue
        written = match["value"]
        quote = (
            written[0]
            if len(written) >= 2 and written[0] == written[-1] and written[0] in "\"'"
            else ""
        )
        if (quote and quote in value) or (not quote and (value != value.strip() or "#" in value)):
            raise EditRefused(
                f"{file}:{number + 1}: {value!r} cannot be written as this line's value; "
                "edit it by hand"
            )
        ending = lines[number][len(lines[number].rstrip("\r\n")) :]
        lines[number] = f"{match['lead']}{quote}{value}{quote}{ending}"
        return "".join(lines)
    raise EditRefused(f"{file} does not define {name}; add {name}=... to it by hand")
