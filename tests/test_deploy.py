"""The deployment files work as far as can be checked without building or installing anything:
the compose file and the systemd units parse, and every `muni-crawl` command they run names
a command and options that the CLI has, with the home on one shared volume."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from muni_crawl.cli import cli
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
SYSTEMD = DEPLOY / "systemd"
SHELL_OPERATORS = {";", "&", "&&", "||", "|", ">", ">>", "2>", "2>&1"}


def command_path(tokens: list[str]) -> list[str]:
    """The (sub)command path of one `muni-crawl ...` command line, after checking that every
    command and option in it exists in the CLI (and that options needing a value have one)."""
    assert Path(tokens[0]).name == "muni-crawl", tokens
    command: click.Command = cli
    path: list[str] = []
    args = tokens[1:]
    while args:
        token, args = args[0], args[1:]
        if token.startswith("-"):
            name, _, inline = token.partition("=")
            option = _option(command, name, path)
            if not (option.is_flag or option.count or inline):
                assert args, f"{name} of {path or 'muni-crawl'} needs a value"
                value, args = args[0], args[1:]
                _check_value(option, value, path)
            continue
        if isinstance(command, click.Group):
            assert token in command.commands, (
                f"muni-crawl {' '.join([*path, token])}: no such command"
            )
            command = command.commands[token]
            path.append(token)
        # else: an argument of the command (a source's name)
    assert path, f"{tokens}: names no command"
    return path


def _option(command: click.Command, name: str, path: list[str]) -> click.Option:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    raise AssertionError(f"muni-crawl {' '.join(path)}: no option {name}")


def _check_value(option: click.Option, value: str, path: list[str]) -> None:
    """A value click would accept for the option (a choice among its choices, a number in
    its range); paths are not checked (they exist only where it is deployed)."""
    if isinstance(option.type, click.Path):
        return
    try:
        option.type.convert(value, option, None)
    except click.BadParameter as exc:
        what = f"muni-crawl {' '.join(path)} {option.opts[0]} {value}"
        raise AssertionError(f"{what}: {exc}") from exc


def muni_crawl_commands(shell: str) -> list[list[str]]:
    """Each `muni-crawl ...` command in a shell command line or script, as tokens."""
    lexer = shlex.shlex(shell.replace("$$", "$"), posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands = []
    for i, token in enumerate(tokens):
        if Path(token).name == "muni-crawl":
            end = next((j for j in range(i, len(tokens)) if tokens[j] in SHELL_OPERATORS), None)
            commands.append(tokens[i:end])
    return commands


# -- the checker itself -----------------------------------------------------------------------


def test_the_command_check_finds_what_does_not_exist() -> None:
    assert command_path(["muni-crawl", "--quiet", "crawl", "--due"]) == ["crawl"]
    assert command_path(["/x/muni-crawl", "--home", "/srv", "sources", "check"]) == [
        "sources",
        "check",
    ]
    for broken in (
        ["muni-crawl", "crawl", "--soon"],  # no such option
        ["muni-crawl", "crawel", "--due"],  # no such command
        ["muni-crawl", "--log-format", "xml", "crawl"],  # not a choice
        ["muni-crawl", "--quiet"],  # no command at all
        ["python", "-m", "muni_crawl", "crawl"],  # not the entry point
    ):
        with pytest.raises(AssertionError):
            command_path(broken)
    assert muni_crawl_commands("cd /d && muni-crawl crawl --due > /dev/null; echo") == [
        ["muni-crawl", "crawl", "--due"]
    ]


# -- docker -----------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _service_commands(service: dict[str, Any]) -> list[list[str]]:
    command = service["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    if Path(command[0]).name == "muni-crawl":
        return [list(command)]
    assert command[:2] == ["sh", "-c"], command
    return muni_crawl_commands(command[2])


def test_compose_runs_serve_and_the_crawler_on_one_home_volume() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"serve", "crawler"}
    assert "home" in compose["volumes"]
    for name, service in services.items():
        assert service["volumes"] == ["home:/data"], name
        assert service["environment"]["MUNI_CRAWL_HOME"] == "/data", name
        assert service["image"] == "muni-crawl:latest", name
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        ).resolve()
    [serve] = _service_commands(services["serve"])
    assert command_path(serve) == ["serve"]
    assert serve[serve.index("--host") + 1] == "0.0.0.0"  # reachable through the port mapping
    port = serve[serve.index("--port") + 1]
    assert services["serve"]["ports"] == [f"{port}:{port}"]
    assert "MUNI_CRAWL_API_KEYS" in services["serve"]["environment"]  # not loopback: keys
    [crawl] = _service_commands(services["crawler"])
    assert command_path(crawl) == ["crawl"] and "--due" in crawl
    script = services["crawler"]["command"][2]
    assert "trap" in script and "CRAWL_EVERY_S" in script  # stops cleanly, runs again


def test_the_dockerfile_installs_the_package_and_runs_a_command_that_exists() -> None:
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    instructions = [line for line in lines if line and not line.startswith((" ", "#"))]
    assert instructions[0] == "FROM python:3.11-slim"
    text = "\n".join(lines)
    assert "pip install ." in text and "torch" not in text.replace("No torch", "")
    for line in instructions:
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:  # the build context is the repository root
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
    [cmd] = [line for line in instructions if line.startswith("CMD ")]
    command = json.loads(cmd.removeprefix("CMD "))
    assert command_path(command) == ["serve"]
    assert "MUNI_CRAWL_HOME=/data" in text and 'VOLUME ["/data"]' in text
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "!muni_crawl/" in ignored and "!pyproject.toml" in ignored


# -- systemd ----------------------------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((SYSTEMD / name).read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize(
    ("unit", "command"),
    [("muni-crawl-serve.service", ["serve"]), ("muni-crawl-crawl.service", ["crawl"])],
)
def test_the_services_run_commands_that_exist(unit: str, command: list[str]) -> None:
    service = _unit(unit)["Service"]
    tokens = shlex.split(service["ExecStart"])
    assert Path(tokens[0]).is_absolute()  # systemd wants the full path of the entry point
    assert command_path(tokens) == command
    assert service["Environment"] == "MUNI_CRAWL_HOME=/var/lib/muni-crawl"
    assert service["ReadWritePaths"] == "/var/lib/muni-crawl"


def test_the_serve_service_binds_to_loopback_and_restarts() -> None:
    parsed = _unit("muni-crawl-serve.service")
    tokens = shlex.split(parsed["Service"]["ExecStart"])
    assert tokens[tokens.index("--host") + 1] == "127.0.0.1"
    assert parsed["Service"]["Restart"] == "on-failure"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


def test_the_timer_starts_crawl_due() -> None:
    service = _unit("muni-crawl-crawl.service")["Service"]
    assert service["Type"] == "oneshot"
    assert "--due" in shlex.split(service["ExecStart"])
    assert service["KillMode"] == "mixed"  # the stop reaches the workers once, forwarded
    assert service["SuccessExitStatus"] == "4"  # still running from the last start
    timer = _unit("muni-crawl-crawl.timer")
    assert timer["Timer"]["Unit"] == "muni-crawl-crawl.service"
    assert (SYSTEMD / timer["Timer"]["Unit"]).is_file()
    assert timer["Timer"]["OnCalendar"] == "*:0/5"
    assert timer["Timer"]["Persistent"] in ("true", "yes")  # a run missed while down is made up
    assert timer["Install"]["WantedBy"] == "timers.target"
