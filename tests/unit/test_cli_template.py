"""Tests of the Go-template subset, `--format` handling, tabwriter layout and Docker's human-readable values."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.cli.table import (
    bytes_size,
    human_duration,
    human_size,
    render_table,
    status_string,
    tabwrite,
    time_ago,
)
from orchestrator.cli.template import (
    Template,
    TemplateError,
    format_output,
    go_sprintf,
    go_str,
    prepare_format,
    render,
    to_json,
)

DATA: dict[str, Any] = {
    "ID": "4f66ad9a0b2e",
    "Name": "/web-1",
    "Names": ["web-1", "web"],
    "Image": "nginx:1.25",
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "Pid": 4242, "Error": ""},
    "Config": {"Labels": {"com.example.tier": "front", "app": "web"}, "Env": ["A=1", "B=2"]},
    "Mounts": [{"Source": "/srv", "Destination": "/data"}, {"Source": "/logs", "Destination": "/var/log"}],
    "Ports": {},
    "Empty": [],
    "Nothing": None,
    "Ratio": 0.25,
    "Count": 3,
    "Flag": False,
}


@dataclass
class Container:
    """An object-style row: attributes plus a Docker-style method taking an argument."""

    ID: str
    labels: dict[str, str] = field(default_factory=dict)
    exit_code: int = 0

    def Label(self, name: str) -> str:  # noqa: N802 - Docker's method name
        return self.labels.get(name, "")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{.ID}}", "4f66ad9a0b2e"),
        ("plain text", "plain text"),
        ("{{.State.ExitCode}}", "0"),
        ("{{.State.Running}} {{.Flag}}", "true false"),
        ("{{.State.Pid}}", "4242"),
        ("{{.Ratio}}", "0.25"),
        ("{{.Nothing}}", "<nil>"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.Names}}", "[web-1 web]"),
        ("{{.Config.Labels}}", "map[app:web com.example.tier:front]"),
        ("{{.Empty}}", "[]"),
        ("{{json .State}}", '{"Status":"running","Running":true,"ExitCode":0,"Pid":4242,"Error":""}'),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ("{{json .Nothing}}", "null"),
        ("{{json .Missing}}", "null"),
        ('{{json "<a&b>"}}', '"<a&b>"'),
        ('{{index .Config.Labels "com.example.tier"}}', "front"),
        ('{{index .Config.Labels "absent"}}', ""),
        ("{{index .Names 1}}", "web"),
        ("{{index .Mounts 0 | json}}", '{"Source":"/srv","Destination":"/data"}'),
        ('{{index .Mounts 1 "Source"}}', "/logs"),
        ('{{join .Names ","}}', "web-1,web"),
        ('{{join .Names ", "}}', "web-1, web"),
        ("{{upper .Image}} {{lower .State.Status}}", "NGINX:1.25 running"),
        ('{{title "hello wide-world"}}', "Hello Wide-World"),
        ('{{split "a,b,c" ","}}', "[a b c]"),
        ('{{len (split "a,b,c" ",")}}', "3"),
        ("{{len .Names}} {{len .ID}} {{len .Config.Labels}}", "2 12 2"),
        ('{{printf "%s:%d" .Image .Count}}', "nginx:1.25:3"),
        ('{{printf "%-8s|" .State.Status}}', "running |"),
        ('{{printf "%5.1f" .Ratio}}', "  0.2"),
        ('{{printf "%q" .ID}}', '"4f66ad9a0b2e"'),
        ('{{printf "%v %t" .Names .Flag}}', "[web-1 web] false"),
        ('{{.Image | printf "<%s>"}}', "<nginx:1.25>"),
        ("{{truncate .ID 4}}", "4f66"),
        ("{{pad .Count 2 1}}|", "  3 |"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Flag}}yes{{else if .Count}}count{{else}}no{{end}}", "count"),
        ("{{if .Empty}}x{{else}}empty{{end}}", "empty"),
        ("{{if .Missing}}x{{else}}missing{{end}}", "missing"),
        ("{{if not .Flag}}negated{{end}}", "negated"),
        ("{{if and .Count .Flag}}a{{else}}b{{end}}", "b"),
        ("{{or .Missing .Nothing .Image}}", "nginx:1.25"),
        ("{{and .Count .Image}}", "nginx:1.25"),
        ('{{if eq .State.Status "exited" "running"}}match{{end}}', "match"),
        ('{{if ne .Count 3}}x{{else}}three{{end}}', "three"),
        ("{{if lt .Count 5}}small{{end}}{{if ge .Count 3}}+{{end}}", "small+"),
        ("{{with .State}}{{.Status}}/{{.ExitCode}}{{end}}", "running/0"),
        ("{{with .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range .Names}}[{{.}}]{{end}}", "[web-1][web]"),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/srv:/data /logs:/var/log "),
        ("{{range $i, $n := .Names}}{{if $i}},{{end}}{{$i}}={{$n}}{{end}}", "0=web-1,1=web"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "app=web;com.example.tier=front;"),
        ("{{range $v := .Config.Labels}}{{$v}} {{end}}", "web front "),
        ("{{range .Empty}}x{{else}}no mounts{{end}}", "no mounts"),
        ("{{range .Nothing}}x{{end}}", ""),
        ("{{range .Names}}{{if eq . \"web\"}}{{break}}{{end}}{{.}}{{end}}", "web-1"),
        ("{{range .Names}}{{if eq . \"web-1\"}}{{continue}}{{end}}{{.}}{{end}}", "web"),
        ("{{range .Names}}{{$.Image}} {{end}}", "nginx:1.25 nginx:1.25 "),
        ("{{$img := .Image}}{{range .Names}}{{$img}}{{end}}", "nginx:1.25nginx:1.25"),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
        ("{{if $s := .Flag}}y{{else}}{{$s}}{{end}}", "false"),
        ("{{if $c := .Count}}{{$c}}{{end}}", "3"),
        ("{{$s := .State}}{{$s.Status}}", "running"),
        ("{{(index .Mounts 0).Source}}", "/srv"),
        ("{{len .}}", str(len(DATA))),
        ("a  {{- .Count -}}  b", "a3b"),
        ("a\n  {{- .Count}}\n", "a3\n"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ('{{"quoted \\"}}\\" \\t"}}', 'quoted "}}" \t'),
        ("{{`raw \\n`}}", "raw \\n"),
        ("{{print 1 2 \"a\" 3}}", "1 2a3"),
        ("{{println .Count}}", "3\n"),
        ("{{-1}} {{0x1F}} {{1.5}} {{1e6}}", "-1 31 1.5 1e+06"),
        ("{{true}} {{false}}", "true false"),
        ("{{slice .ID 0 4}}", "4f66"),
        ("{{\n.ID\n}}", "4f66ad9a0b2e"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert render(text, DATA) == expected


def test_object_fields_and_methods() -> None:
    row = Container("abc", {"com.docker.compose.project": "shop"}, exit_code=2)
    assert render('{{.ID}} {{.Label "com.docker.compose.project"}}', row) == "abc shop"
    assert render("{{.ExitCode}}", row) == "2"  # CamelCase falls back to the snake_case attribute
    assert render("{{json .}}", row) == '{"ID":"abc","labels":{"com.docker.compose.project":"shop"},"exit_code":2}'


def test_callable_dict_values_act_as_methods() -> None:
    labels = {"tier": "front"}
    row = {"ID": "x", "Label": lambda name: labels.get(name, "")}
    assert render('{{.Label "tier"}}|{{.Label "none"}}', row) == "front|"


def test_json_of_datetimes_and_floats() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert to_json({"Created": when, "CPU": 2.0, "Mem": 0.5}) == '{"Created":"2024-05-01T12:00:00Z","CPU":2,"Mem":0.5}'


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{.ID", "template parsing error: template: :1: unclosed action"),
        ("a\n{{.ID", "template parsing error: template: :2: unclosed action"),
        ("{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
        ("{{else}}", "template parsing error: template: :1: unexpected {{else}}"),
        ("{{if .X}}a", "template parsing error: template: :1: unexpected EOF"),
        ("{{range .X}}a{{else}}b", "template parsing error: template: :1: unexpected EOF"),
        ("{{foo .X}}", 'template parsing error: template: :1: function "foo" not defined'),
        ("{{}}", "template parsing error: template: :1: missing value for command"),
        ("{{if}}{{end}}", "template parsing error: template: :1: missing value for if"),
        ('{{"abc}}', "template parsing error: template: :1: unterminated quoted string"),
        ("{{`abc}}", "template parsing error: template: :1: unterminated raw quoted string"),
        ("{{$y}}", 'template parsing error: template: :1: undefined variable "$y"'),
        ("{{if .A}}{{$v := 1}}{{end}}{{$v}}", 'template parsing error: template: :1: undefined variable "$v"'),
        ("{{break}}", "template parsing error: template: :1: {{break}} outside {{range}}"),
        ("{{.A #}}", "template parsing error: template: :1: unrecognized character in action: U+0023 '#'"),
        ("{{/* open", "template parsing error: template: :1: unclosed comment"),
        ("{{template \"x\"}}", 'template parsing error: template: :1: "template" is not supported in orch templates'),
        ("{{.A | 3}}", "template parsing error: template: :1: non executable command in pipeline stage 2"),
        ("{{(.A}}", "template parsing error: template: :1: unclosed left paren"),
        ("{{.A)}}", "template parsing error: template: :1: unexpected right paren ')'"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{.ID.Foo}}", 'template: :1:2: executing "" at <.ID.Foo>: can\'t evaluate field Foo in type string'),
        ("{{.Nothing.Foo}}", 'template: :1:2: executing "" at <.Nothing.Foo>: nil pointer evaluating interface {}.Foo'),
        ("x{{index .Names 5}}", 'template: :1:3: executing "" at <index .Names 5>: error calling index: '
         "index out of range: 5"),
        ("{{join .Names}}", 'template: :1:2: executing "" at <join .Names>: wrong number of args for join: want 2 got 1'),
        ("{{len .Count}}", 'template: :1:2: executing "" at <len .Count>: error calling len: len of type int'),
        ('{{if eq .Count "3"}}{{end}}', 'template: :1:5: executing "" at <eq .Count "3">: error calling eq: '
         "incompatible types for comparison"),
        ("{{range .ID}}{{end}}", 'template: :1:8: executing "" at <.ID>: range can\'t iterate over 4f66ad9a0b2e'),
        ('{{.Image "arg"}}', 'template: :1:2: executing "" at <.Image>: Image is not a method but has arguments'),
        ("{{3 .ID}}", 'template: :1:2: executing "" at <3>: can\'t give argument to non-function 3'),
    ],
)
def test_execution_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text, DATA)
    assert str(info.value) == message


def test_missing_attribute_on_object_is_an_error() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type Container"):
        render("{{.Nope}}", Container("x"))


def test_private_attributes_are_not_reachable() -> None:
    with pytest.raises(TemplateError):
        render("{{._secret}}", Container("x"))


@pytest.mark.parametrize(
    "value, text",
    [
        (True, "true"),
        (None, "<nil>"),
        (3, "3"),
        (1.0, "1"),
        (2.5, "2.5"),
        (100000.0, "100000"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.5, "-0.5"),
        (float("inf"), "+Inf"),
        ([1, "a", None], "[1 a <nil>]"),
        ({"b": 1, "a": [2]}, "map[a:[2] b:1]"),
    ],
)
def test_go_str(value: Any, text: str) -> None:
    assert go_str(value) == text


@pytest.mark.parametrize(
    "fmt, args, text",
    [
        ("%s-%d", ["a", 5], "a-5"),
        ("%5s|%-5s|", ["ab", "cd"], "   ab|cd   |"),
        ("%05d %+d %x %X %o %b", [42, 7, 255, 255, 8, 5], "00042 +7 ff FF 10 101"),
        ("%.2f %e %g", [3.14159, 1500.0, 0.5], "3.14 1.500000e+03 0.5"),
        ("%t %v %q %c", [True, [1, 2], "x", 65], 'true [1 2] "x" A'),
        ("%.3s", ["abcdef"], "abc"),
        ("100%%", [], "100%"),
        ("%s %s", ["a"], "a %!s(MISSING)"),
        ("%s", ["a", 1], "a%!(EXTRA int=1)"),
        ("%d", ["x"], "%!d(string=x)"),
    ],
)
def test_go_sprintf(fmt: str, args: list[Any], text: str) -> None:
    assert go_sprintf(fmt, args) == text


# ---------------------------------------------------------------- --format handling

ROWS = [
    {"ID": "4f66ad9a0b2e", "Image": "nginx", "Status": "Up 3 seconds", "Names": "web"},
    {"ID": "9c1d", "Image": "redis:7-alpine", "Status": "Exited (0) 2 minutes ago", "Names": "cache"},
]
HEADERS = {"ID": "CONTAINER ID", "Status": "STATUS", "Image": "IMAGE", "Names": "NAMES"}


def test_prepare_format() -> None:
    assert prepare_format(r"table {{.ID}}\t{{.Names}}") == (True, "{{.ID}}\t{{.Names}}")
    assert prepare_format(r"  {{.ID}}\n ") == (False, "{{.ID}}\n")
    assert prepare_format("table") == (True, "")


def test_format_output_default_table() -> None:
    out = format_output(ROWS, None, ["ID", "Image", "Status", "Names"], HEADERS)
    assert out == (
        "CONTAINER ID   IMAGE            STATUS                     NAMES\n"
        "4f66ad9a0b2e   nginx            Up 3 seconds               web\n"
        "9c1d           redis:7-alpine   Exited (0) 2 minutes ago   cache\n"
    )
    assert format_output(ROWS, "table", ["ID", "Names"], HEADERS) == format_output(ROWS, "", ["ID", "Names"], HEADERS)


def test_format_output_default_table_without_rows_prints_the_header() -> None:
    assert format_output([], None, ["ID", "Names"], HEADERS) == "CONTAINER ID   NAMES\n"


def test_format_output_table_template() -> None:
    out = format_output(ROWS, r"table {{.ID}}\t{{.Names}}\t{{.RunningFor}}", [], HEADERS)
    assert out == (
        "CONTAINER ID   NAMES     RUNNING FOR\n"
        "4f66ad9a0b2e   web       <no value>\n"
        "9c1d           cache     <no value>\n"
    )


def test_format_output_table_header_passes_through_functions() -> None:
    out = format_output(ROWS[:1], r"table {{upper .Names}}\t{{json .ID}}", [], HEADERS)
    assert out.splitlines() == ["NAMES     CONTAINER ID", 'WEB       "4f66ad9a0b2e"']


def test_format_output_plain_template_and_json() -> None:
    assert format_output(ROWS, r"{{.Names}}\t{{.ID}}", [], HEADERS) == "web\t4f66ad9a0b2e\ncache\t9c1d\n"
    assert format_output(ROWS, "{{.Names}}", [], HEADERS) == "web\ncache\n"
    assert format_output(ROWS[:1], "json", [], HEADERS) == (
        '{"ID":"4f66ad9a0b2e","Image":"nginx","Status":"Up 3 seconds","Names":"web"}\n'
    )
    assert format_output([], "{{.ID}}", [], HEADERS) == ""


def test_format_output_objects_in_default_table() -> None:
    rows = [Container("abc", exit_code=1)]
    assert format_output(rows, None, ["ID", "ExitCode"], {}) == "ID        EXIT CODE\nabc       1\n"


def test_format_output_bad_template() -> None:
    with pytest.raises(TemplateError, match="template parsing error: template: :1: unclosed action"):
        format_output(ROWS, "{{.ID", [], HEADERS)


# ---------------------------------------------------------------- tabwriter and tables


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a\tb\n", "a         b\n"),
        ("abcdefghij\tb\n", "abcdefghij   b\n"),
        ("a\tb\tc\nlonger cell\tx\ty\n", "a             b         c\nlonger cell   x         y\n"),
        ("no tabs\n", "no tabs\n"),
        ("a\tb\nbreak\nlonger cell\tc\n", "a         b\nbreak\nlonger cell   c\n"),
        ("a\t\tc\n", "a                   c\n"),
        ("x\ty", "x         y"),
    ],
)
def test_tabwrite(text: str, expected: str) -> None:
    assert tabwrite(text) == expected


def test_render_table() -> None:
    rows = [{"Name": "web", "Ports": ["80/tcp", "443/tcp"], "Replicas": None, "Global": True}]
    out = render_table(rows, [("NAME", "Name"), ("PORTS", "Ports"), ("REPLICAS", "Replicas"), ("GLOBAL", "Global")])
    assert out == "NAME      PORTS            REPLICAS   GLOBAL\nweb       80/tcp,443/tcp              true\n"


# ---------------------------------------------------------------- human-readable values


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "Less than a second"),
        (0.9, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"),
        (59 * 86400, "8 weeks"),
        (60 * 86400, "2 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    "size, text",
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1234567, "1.23MB"), (10_000_000, "10MB"), (123_456_789, "123MB"),
     (5.5e9, "5.5GB"), (1e24, "1YB"), (2e27, "2e+03YB")],
)
def test_human_size(size: float, text: str) -> None:
    assert human_size(size) == text


def test_human_size_precision() -> None:
    assert human_size(1234567, 4) == "1.235MB"


@pytest.mark.parametrize(
    "size, text",
    [(0, "0B"), (1023, "1023B"), (1024, "1KiB"), (1572864, "1.5MiB"), (16_388_096, "15.63MiB"), (2 * 1024**3, "2GiB")],
)
def test_bytes_size(size: float, text: str) -> None:
    assert bytes_size(size) == text


NOW = 1_700_000_000.0


def test_time_ago() -> None:
    assert time_ago(NOW - 120, now=NOW) == "2 minutes ago"
    assert time_ago(dt.datetime.fromtimestamp(NOW - 5, dt.timezone.utc), now=NOW) == "5 seconds ago"
    assert time_ago(None, now=NOW) == ""
    assert time_ago(0, now=NOW) == ""


@pytest.mark.parametrize(
    "state, exit_code, started, finished, health, text",
    [
        ("created", 0, None, None, None, "Created"),
        ("running", 0, NOW - 3, None, None, "Up 3 seconds"),
        ("running", 0, NOW - 1, None, None, "Up 1 second"),
        ("running", 0, NOW - 7200, None, "healthy", "Up 2 hours (healthy)"),
        ("running", 0, NOW - 10, None, "starting", "Up 10 seconds (health: starting)"),
        ("running", 0, NOW - 10, None, "unhealthy", "Up 10 seconds (unhealthy)"),
        ("paused", 0, NOW - 1, None, None, "Up 1 second (Paused)"),
        ("restarting", 1, NOW - 100, NOW - 30, None, "Restarting (1) 30 seconds ago"),
        ("exited", 0, NOW - 600, NOW - 120, None, "Exited (0) 2 minutes ago"),
        ("exited", 137, NOW - 600, NOW - 5, None, "Exited (137) 5 seconds ago"),
        ("exited", 0, None, None, None, "Created"),
        ("exited", 0, NOW - 5, None, None, ""),
        ("dead", 0, NOW - 5, NOW, None, "Dead"),
        ("removing", 0, NOW - 5, NOW, None, "Removal In Progress"),
    ],
)
def test_status_string(
    state: str, exit_code: int, started: float | None, finished: float | None, health: str | None, text: str
) -> None:
    assert status_string(state, exit_code, started, finished, health=health, now=NOW) == text


def test_arbitrary_input_fails_only_with_template_error() -> None:
    """Whatever the user types, the CLI gets a TemplateError (one line), never a traceback."""
    import random

    pieces = ["{{", "}}", "{{- ", " -}}", ".ID", ".State", ".Names", "$", "$x", ":=", "=", "|", "(", ")", "if",
              "else", "end", "range", "with", "break", '"s"', "`r`", "1", "-2", "1.5", "json", "index", "len",
              "printf", "and", "eq", " ", ",", "'a'", "/*", "*/", "text", "\n", ".", "nil", "$k, $v :="]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        try:
            render(text, DATA)
        except TemplateError:
            pass
