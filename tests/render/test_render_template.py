"""The Go-template forms ecspresso users write, parsed and executed."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.desired.functions import Variables
from reconciler.desired.template import TemplateError, render_template
from tests.conftest import run_async

VARIABLES = {"TAG": "v1.2.3", "JSON": '{"a": "b\\n"}', "EMPTY": ""}


def run(text: str, **extra: Any) -> str:
    variables = Variables(VARIABLES, {"FROM_ENV": "outside"})
    functions = {"env": variables.env, "must_env": variables.must_env, **extra}
    return run_async(render_template(text, functions))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("image: app:{{ must_env `TAG` }}", "image: app:v1.2.3", id="must_env-raw"),
        pytest.param('{{ env "NOPE" "dflt" }}', "dflt", id="env-default"),
        pytest.param('{{ env "NOPE" "TAG" "dflt" }}', "v1.2.3", id="env-first-set-wins"),
        pytest.param('{{ env "EMPTY" "dflt" }}', "dflt", id="env-empty-is-unset"),
        pytest.param('{{ env "NOPE" }}', "", id="env-one-name-no-default"),
        pytest.param('"{{ env `JSON` | json_escape }}"', '"{\\"a\\": \\"b\\\\n\\"}"', id="pipe"),
        pytest.param('{{ "a\\tb\\u00e9" }}', "a\tbé", id="double-quoted-escapes"),
        pytest.param("a  {{- `x` -}}  \n b", "axb", id="trim-markers"),
        pytest.param("a{{/* a comment */}}b", "ab", id="comment"),
        pytest.param('{{ printf "%s-%s" "a" (must_env `TAG`) }}', "a-v1.2.3", id="parens-printf"),
        pytest.param("{{ if env `TAG` }}yes{{ else }}no{{ end }}", "yes", id="if-true"),
        pytest.param("{{ if env `NOPE` }}yes{{ else if true }}elif{{ end }}", "elif", id="elif"),
        pytest.param("{{ if (env `NOPE` ``) }}yes{{ end }}", "", id="if-empty"),
        pytest.param("no actions at all: {x}", "no actions at all: {x}", id="plain-text"),
        pytest.param('{{ "}}" }}', "}}", id="braces-in-string"),
        pytest.param("{{ 42 }} {{ true }}", "42 true", id="literals"),
    ],
)
def test_template_forms_render_as_ecspresso_renders_them(text: str, expected: str) -> None:
    assert run(text) == expected


def test_a_variable_read_from_the_environment_is_recorded_as_unpinned() -> None:
    variables = Variables({"TAG": "git"}, {"TAG": "env", "OTHER": "env"})
    functions = {"env": variables.env, "must_env": variables.must_env}

    output = run_async(render_template("{{ must_env `TAG` }}/{{ env `OTHER` }}", functions))

    assert output == "git/env"
    assert variables.unpinned == {"OTHER"}


def test_functions_may_be_coroutines() -> None:
    async def lookup(name: str) -> str:
        return name.upper()

    assert run("{{ lookup `x` | json_escape }}", lookup=lookup) == "X"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("a\nb {{ nope `x` }}", 2, 'function "nope" is not defined', id="unknown-fn"),
        pytest.param("a\n\n{{ must_env `MISSING` }}", 3, "MISSING is not set", id="missing-var"),
        pytest.param("x\n{{ env `A` ", 2, "unterminated action", id="unterminated-action"),
        pytest.param('{{ "abc }}', 1, "unterminated quoted string", id="unterminated-string"),
        pytest.param("{{ if true }}x", 1, "without a matching {{ end }}", id="if-without-end"),
        pytest.param("a\n{{ end }}", 2, "without an if", id="end-without-if"),
        pytest.param("{{ $x := 1 }}", 1, "variables", id="variables"),
        pytest.param("{{ range . }}{{ end }}", 1, "not supported", id="range"),
        pytest.param("{{ 'a' }}", 1, "single quotes", id="single-quotes"),
        pytest.param("{{ }}", 1, "empty action", id="empty-action"),
        pytest.param("{{ must_env `A` `B` }}", 1, "one variable name", id="must_env-arity"),
    ],
)
def test_bad_templates_name_the_line_and_the_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(TemplateError) as raised:
        run(text)

    assert raised.value.line == line
    assert words in raised.value.message
