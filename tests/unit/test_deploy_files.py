"""The deployment files in deploy/ say what the README's "Going live" promises.

No container engine runs on the development machines, so these files are checked by
parsing them: the Dockerfile's instructions per stage, compose.yaml with PyYAML, the
systemd units with configparser, the Caddyfile and the env example as text. Where the
real tool is installed (`docker compose` / `docker-compose`, `systemd-analyze`, `caddy`)
it checks the file as well; `.ci/run` installs them, so in CI a missing one fails, and
locally that part is skipped with the reason. The image itself is built and its files run
by tests/deploy/test_container_image.py.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from dmpilot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _missing_tool(reason: str) -> NoReturn:
    """Locally a missing checker is a skip; in CI (.ci/run installs them) it is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: .ci/run should have installed it")
    pytest.skip(reason)


DEPLOY = ROOT / "deploy"
SECRET_WORDS = ("TOKEN", "KEY", "PASSWORD", "SECRET")
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "-dev ")
HEALTHZ = "http://127.0.0.1:8000/healthz"


# --- Dockerfile --------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        parsed.append((keyword.upper(), args.strip()))
    return parsed


def _stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults, and the stages in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, flags=re.IGNORECASE)
            assert match, rest
            stages.append(Stage(base=match[1], name=match[2]))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return _stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))


def _resolve(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], base)


def test_dockerfile_is_multi_stage_on_a_pinned_base(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2
    assert all(stage.name for stage in stages), "every stage is named (FROM … AS name)"
    for stage in stages:
        image = _resolve(stage.base, args)
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and "latest" not in tag, image
        assert "@sha256:" in image or re.search(r"\d", tag), f"{image}: pin a version"


def test_final_stage_copies_the_build_and_has_no_build_tools(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    builder, final = stages[0], stages[-1]
    assert any(f"--from={builder.name}" in copy for copy in final.all("COPY"))
    assert any("pip wheel" in run or "pip install" in run for run in builder.all("RUN"))
    for run in final.all("RUN"):
        assert "pip install" not in run and "apt-get install" not in run, run
        for tool in BUILD_TOOLS:
            assert tool not in f"{run} ", f"build tool {tool.strip()!r} in the final stage"
    # Nothing of the source tree reaches the final image but the built environment.
    assert all("--from=" in copy for copy in final.all("COPY"))


def test_final_stage_runs_as_a_user_that_is_not_root(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    users = stages[-1].all("USER")
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd" in run and user in run for run in stages[-1].all("RUN"))


def test_final_stage_checks_health_and_loads_the_language_models(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    final = stages[-1]
    [healthcheck] = final.all("HEALTHCHECK")
    assert HEALTHZ in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert any("load_models()" in run for run in final.all("RUN"))
    [cmd] = final.all("CMD")
    assert "dmpilot" in cmd and "serve" in cmd and "8000" in cmd
    assert "--demo" not in cmd


def test_build_script_parses_and_builds_what_the_dockerfile_needs() -> None:
    """deploy/build-image.sh is run for real by tests/deploy/test_container_image.py; this
    part needs nothing but bash."""
    script = DEPLOY / "build-image.sh"
    assert os.access(script, os.X_OK), "deploy/build-image.sh is executable"
    text = script.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    for flag in ("--isolation chroot", "--format docker", '"BASE_IMAGE=$base_image"'):
        assert flag in text, flag  # --format docker: the OCI format drops HEALTHCHECK
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for path in ("pyproject.toml", "README.md", "src"):  # what the builder stage copies
        assert f"!{path}" in ignored, path


# --- compose.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def test_compose_runs_server_worker_and_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"server", "worker", "postgres"}
    server, worker = _command(services["server"]), _command(services["worker"])
    assert server[:2] == ["dmpilot", "serve"] and "--proxy" in server
    assert "--demo" not in server
    assert worker == ["dmpilot", "worker"]
    # Published on the host's loopback only: Caddy in front is the public side.
    assert services["server"]["ports"] == ["127.0.0.1:8000:8000"]
    for name in ("server", "worker", "postgres"):
        assert services[name]["restart"] in ("unless-stopped", "always")


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image, f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image}"


def test_compose_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    server_check = " ".join(services["server"]["healthcheck"]["test"])
    assert HEALTHZ in server_check
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name in ("server", "worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}
    assert services["worker"]["depends_on"]["server"] == {"condition": "service_healthy"}


def test_compose_keeps_postgres_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["postgres"]["volumes"]
    named = [v.split(":")[0] for v in volumes if v.endswith(":/var/lib/postgresql/data")]
    assert named and named[0] in compose["volumes"]


def test_compose_takes_secrets_from_env_files_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("env_file"), f"{name}: secrets come from an env file"
        for key, value in (service.get("environment") or {}).items():
            assert not any(word in key for word in SECRET_WORDS), f"{name}: {key} inline"
            assert "://" not in str(value) or "@" not in str(value), f"{name}: {key}"
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert "CHANGE_ME" not in text and "postgresql://" not in text


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_is_valid_for_compose_itself(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        _missing_tool("neither `docker compose` nor `docker-compose` is installed")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    for name in ("dmpilot.env", "postgres.env", "persona.yaml"):
        (copy / name).write_text("", encoding="utf-8")
    result = subprocess.run(
        [*cli, "--project-name", "dmpilot", "-f", str(copy / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "dmpilot worker" in " ".join(result.stdout.split()) or "- worker" in result.stdout


# --- env example -------------------------------------------------------------------------


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip() and value == value.strip(), f"{line!r}"
        assert not value.startswith(("'", '"')), f"{key}: systemd and compose differ on quotes"
        values[key] = value
    return values


def test_env_example_sets_what_production_needs_without_real_secrets() -> None:
    values = _env_file(DEPLOY / "dmpilot.env.example")
    required = {
        "DMPILOT_WEBHOOK_TOKEN",
        "DMPILOT_PERSONA",
        "DMPILOT_BRAIN",
        "ANTHROPIC_API_KEY",
        "DMPILOT_DATABASE_URL",
        "DMPILOT_DELIVERY",
        "DMPILOT_MANYCHAT_API_KEY",
        "DMPILOT_PUBLIC_URL",
        "DMPILOT_DAILY_NEW_CONVERSATIONS",
        "DMPILOT_LOG_FORMAT",
    }
    assert required <= set(values)
    for key, value in values.items():
        if any(word in key for word in SECRET_WORDS):
            assert value == "CHANGE_ME", f"{key} must be a placeholder"
    assert values["DMPILOT_DATABASE_URL"].startswith("postgresql://")
    assert values["DMPILOT_PUBLIC_URL"].startswith("https://")
    assert _env_file(DEPLOY / "postgres.env.example") == {"POSTGRES_PASSWORD": "CHANGE_ME"}


def test_env_example_is_a_configuration_dmpilot_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env_file(DEPLOY / "dmpilot.env.example").items():
        monkeypatch.setenv(key, value.replace("CHANGE_ME", "placeholder"))
    settings = Settings()
    assert settings.token is not None
    assert settings.brain_kind == "anthropic"
    assert settings.delivery_mode.value == "push"
    assert settings.database_url.startswith("postgresql://")


# --- systemd units -----------------------------------------------------------------------


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"), source=name)
    return parser


@pytest.mark.parametrize(
    ("name", "command"),
    [("dmpilot.service", ["serve"]), ("dmpilot-worker.service", ["worker"])],
)
def test_systemd_unit_restarts_sandboxed_with_the_env_file(name: str, command: list[str]) -> None:
    unit = _unit(name)
    service = unit["Service"]
    argv = service["ExecStart"].split()
    assert Path(argv[0]).name == "dmpilot" and argv[1:2] == command
    assert service["Restart"] in ("on-failure", "always")
    assert service["EnvironmentFile"] == "/etc/dmpilot/dmpilot.env"
    assert service["User"] == "dmpilot" and service["Group"] == "dmpilot"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/dmpilot"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "StartLimitBurst" in unit["Unit"]  # a refused configuration does not loop


def test_server_unit_listens_on_loopback_behind_the_proxy() -> None:
    argv = _unit("dmpilot.service")["Service"]["ExecStart"].split()
    options = dict(zip(argv[2::2], argv[3::2], strict=False))
    assert options["--host"] == "127.0.0.1"
    assert options["--port"] == "8000"
    assert options["--proxy"] == "127.0.0.1"
    assert "--demo" not in argv


def test_systemd_units_pass_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        _missing_tool("systemd-analyze is not installed")
    paths = []
    for name in ("dmpilot.service", "dmpilot-worker.service"):
        shutil.copy(DEPLOY / name, tmp_path / name)
        paths.append(str(tmp_path / name))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *paths], capture_output=True, text=True, check=False
    )
    # The binary is installed by the steps in the README, not on this machine.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "/opt/dmpilot/venv/bin/dmpilot is not executable" not in line
    ]
    assert not problems, "\n".join(problems)


# --- Caddyfile ---------------------------------------------------------------------------


def test_caddyfile_proxies_to_the_loopback_server() -> None:
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert "reverse_proxy 127.0.0.1:8000" in lines
    # A bare host name as the site address is what turns on Caddy's automatic HTTPS.
    sites = [line for line in lines if line.endswith("{")]
    assert sites and not sites[0].startswith(("http://", ":")), sites


def test_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        _missing_tool("caddy is not installed")
    config = tmp_path / "Caddyfile"
    shutil.copy(DEPLOY / "Caddyfile", config)
    result = subprocess.run(
        [caddy, "adapt", "--config", str(config), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:8000" in result.stdout


# --- README and the flow diagram ---------------------------------------------------------


def test_manychat_flow_diagram_is_valid_svg_linked_from_the_readme() -> None:
    svg = ROOT / "docs" / "manychat-flow.svg"
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join(t for t in root.itertext())
    for label in ("Default Reply", "External Request", "should_send", "push"):
        assert label in text, label
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/manychat-flow.svg)" in readme


def test_readme_names_every_deploy_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in sorted(DEPLOY.iterdir()):
        assert f"deploy/{path.name}" in readme, path.name
