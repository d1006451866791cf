"""The container image, built and run for real: deploy/build-image.sh, then podman.

No Docker engine runs on the project's machines and no registry can be reached, so the image
is built as deploy/build-image.sh builds it: a base made from Debian's packages
(debootstrap), then deploy/Dockerfile with Debian's podman under chroot isolation. The
containers then run under podman (rootful, runc, cgroups v1), with one adjustment these
machines need: explicit `--ulimit`s (see RUN).

Needs root, podman and debootstrap. `.ci/run` installs them: under CI=true a missing one
fails the tests; locally they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from support import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "deploy" / "build-image.sh"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
VERSION: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TAG = f"dmpilot:{VERSION}"  # what the script tags by default
TOKEN = "image-test-token"
DATABASE = "/var/lib/dmpilot/dmpilot.db"
# README's Quickstart request.
QUICKSTART = {
    "subscriber": {"id": "123", "name": "Sam", "ig_username": "sam"},
    "last_input_text": "hey! love your photos",
}
BUILD_TOOLS = ("gcc", "cc", "c++", "g++", "cpp", "clang", "make", "ld", "pip", "pip3")


def _ulimits() -> list[str]:
    """By default runc raises a container's open-file and process limits above this
    machine's hard limits, and root here lacks CAP_SYS_RESOURCE: `podman run` fails with
    "error setting rlimit type 7: operation not permitted". Limits within the host's own
    work (8192 is plenty for one server process)."""
    flags = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        value = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
        flags += ["--ulimit", f"{name}={value}:{value}"]
    return flags


RUN = ["podman", "run", *_ulimits()]


def _missing_tool(reason: str) -> NoReturn:
    """Locally a missing tool is a skip; in CI (.ci/run installs them) it is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: .ci/run should have installed it")
    pytest.skip(reason)


def _run(args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, errors="replace", timeout=timeout
    )


def _podman(*args: str, timeout: float = 120) -> str:
    """stdout of a podman command that must succeed."""
    result = _run(["podman", *args], timeout=timeout)
    assert result.returncode == 0, f"podman {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def _dockerfile(keyword: str) -> str:
    """The arguments of the Dockerfile's last `keyword` instruction, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = [
        line.strip()[len(keyword) :].strip()
        for line in text.splitlines()
        if line.strip().upper().startswith(keyword + " ")
    ]
    assert found, f"no {keyword} in {DOCKERFILE}"
    return found[-1]


def _nanoseconds(duration: str) -> int:
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"s": 1, "m": 60, "h": 3600}[unit] * 1_000_000_000


def _lookup(rootfs: Path, table: str, name: str) -> int:
    if name.isdigit():
        return int(name)
    for line in (rootfs / "etc" / table).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"{name} is not in the image's /etc/{table}")


# --- the image ----------------------------------------------------------------------------


@dataclass
class Image:
    config: dict[str, Any]
    healthcheck: dict[str, Any]
    rootfs: Path  # the image's files, mounted read-only
    uid: int
    gid: int

    @property
    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config["Env"])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """deploy/build-image.sh's image, inspected, with its files mounted."""
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            _missing_tool(f"{tool} is not installed (the container image tests need it)")
    if os.geteuid() != 0:
        _missing_tool("the container image tests need root (debootstrap, rootful podman)")

    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        built = subprocess.run(
            [str(BUILD_SCRIPT)], stdout=out, stderr=subprocess.STDOUT, timeout=1500
        )
    if built.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"deploy/build-image.sh failed ({built.returncode}):\n{tail}")
    print(f"deploy/build-image.sh built {TAG} in {time.monotonic() - started:.0f} s")

    (info,) = json.loads(_podman("image", "inspect", TAG))
    rootfs = Path(_podman("image", "mount", TAG).strip())
    try:
        user, _, group = info["Config"]["User"].partition(":")
        yield Image(
            config=info["Config"],
            healthcheck=info.get("Healthcheck") or {},
            rootfs=rootfs,
            uid=_lookup(rootfs, "passwd", user),
            gid=_lookup(rootfs, "group", group or user),
        )
    finally:
        _run(["podman", "image", "unmount", TAG])


@contextlib.contextmanager
def container(*args: str) -> Iterator[str]:
    """`podman run -d` of the image with args; removed at the end. Yields its name."""
    name = f"dmpilot-test-{secrets.token_hex(4)}"
    result = _run([*RUN, "--detach", "--name", name, *args])
    try:
        assert result.returncode == 0, result.stderr
        yield name
    finally:
        _run(["podman", "rm", "--force", "--time", "0", name])


# --- what `podman image inspect` says -----------------------------------------------------


def test_the_image_runs_as_uid_10001_with_the_dockerfiles_cmd(image: Image) -> None:
    assert image.config["User"] == "dmpilot:dmpilot"
    assert (image.uid, image.gid) == (10001, 10001)
    assert image.config["Cmd"] == json.loads(_dockerfile("CMD"))
    assert image.config["Cmd"][:2] == ["dmpilot", "serve"]
    assert image.config["WorkingDir"] == "/var/lib/dmpilot"
    assert "8000/tcp" in image.config["ExposedPorts"]
    assert image.env["DMPILOT_DATABASE_URL"] == "sqlite:////var/lib/dmpilot/dmpilot.db"
    state = (image.rootfs / "var/lib/dmpilot").stat()
    assert (state.st_uid, state.st_gid) == (10001, 10001)


def test_the_image_keeps_the_dockerfiles_healthcheck(image: Image) -> None:
    """--format docker: an OCI image would have dropped it silently."""
    options, _, command = _dockerfile("HEALTHCHECK").partition(" CMD ")
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in options.split())
    assert image.healthcheck["Test"] == ["CMD", *json.loads(command)]
    assert "http://127.0.0.1:8000/healthz" in image.healthcheck["Test"][-1]
    assert image.healthcheck["Interval"] == _nanoseconds(flags["interval"])
    assert image.healthcheck["Timeout"] == _nanoseconds(flags["timeout"])
    assert image.healthcheck["StartPeriod"] == _nanoseconds(flags["start-period"])
    assert image.healthcheck["Retries"] == int(flags["retries"])


# --- the final image's files --------------------------------------------------------------


def test_the_final_image_has_no_compiler_no_pip_and_no_source_tree(image: Image) -> None:
    found = [
        f"{directory}/{name}"
        for directory in image.env["PATH"].split(":")
        for name in BUILD_TOOLS
        if (image.rootfs / directory.lstrip("/") / name).exists()
    ]
    found += [str(path) for path in (image.rootfs / "usr").glob("lib/gcc/*/*/cc1")]
    found += [str(path) for path in (image.rootfs / "usr/bin").glob("*-linux-gnu-gcc*")]
    assert found == []
    no_pip = _run([*RUN, "--rm", TAG, "python3", "-m", "pip", "--version"])
    assert no_pip.returncode != 0 and "No module named pip" in no_pip.stderr
    assert not (image.rootfs / "src").exists()
    assert not (image.rootfs / "wheels").exists()


# --- containers ---------------------------------------------------------------------------


def test_dmpilot_version_runs_as_the_image_user(image: Image) -> None:
    result = _run([*RUN, "--rm", TAG, "sh", "-c", "dmpilot --version && id -u && pwd"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"dmpilot {VERSION}", "10001", "/var/lib/dmpilot"]


def test_the_cmd_as_is_refuses_a_public_address_with_the_example_persona(image: Image) -> None:
    """The image's CMD listens on 0.0.0.0: without a persona of one's own it does not start."""
    result = _run([*RUN, "--rm", "--env", f"DMPILOT_WEBHOOK_TOKEN={TOKEN}", TAG])
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stdout + result.stderr


@dataclass
class Served:
    name: str
    url: str

    def logs(self) -> str:
        result = _run(["podman", "logs", self.name])
        return result.stdout + result.stderr


@pytest.fixture
def served(image: Image) -> Iterator[Served]:
    """The image's CMD with --demo (the example persona and scripted brain on 0.0.0.0) and a
    webhook token, its port 8000 published on a free loopback port, until /healthz answers."""
    port = free_port()
    with container(
        "--publish",
        f"127.0.0.1:{port}:8000",
        "--env",
        f"DMPILOT_WEBHOOK_TOKEN={TOKEN}",
        TAG,
        *image.config["Cmd"],
        "--demo",
    ) as name:
        server = Served(name, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            running = _podman("inspect", "--format", "{{.State.Running}}", name).strip()
            if running != "true" or time.monotonic() > deadline:
                pytest.fail(f"/healthz never answered (running: {running}):\n{server.logs()}")
            time.sleep(0.3)
        yield server


def test_serve_answers_healthz_the_healthcheck_and_a_manychat_webhook(served: Served) -> None:
    # The engine runs the image's HEALTHCHECK (its timer needs systemd, absent here: run once).
    check = _run(["podman", "healthcheck", "run", served.name])
    assert check.returncode == 0, check.stdout + check.stderr
    health = _podman("inspect", "--format", "{{.State.Health.Status}}", served.name)
    assert health.strip() == "healthy"

    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{served.url}/webhooks/manychat", json=QUICKSTART, headers=auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["should_send"] is True and answer["reason"] is None
    assert isinstance(answer["response"], str) and answer["response"]
    anonymous = httpx.post(f"{served.url}/webhooks/manychat", json=QUICKSTART)
    assert anonymous.status_code == 401

    # The server is uid 10001, and made its database in the image's volume directory.
    owners = _podman("exec", served.name, "stat", "-c", "%u", "/proc/1", DATABASE)
    assert owners.split() == ["10001", "10001"]

    # `podman stop` sends SIGTERM and waits; a server that ignored it would be killed (137).
    _podman("stop", "--time", "30", served.name, timeout=60)
    assert _podman("inspect", "--format", "{{.State.ExitCode}}", served.name).strip() == "0"
    assert "Application shutdown complete" in served.logs()


def test_the_healthcheck_fails_when_nothing_answers(image: Image) -> None:
    with container(TAG, "sleep", "300") as name:
        check = _run(["podman", "healthcheck", "run", name])
        assert check.returncode == 1
        assert "unhealthy" in check.stdout
        (log,) = json.loads(_podman("inspect", name))[0]["State"]["Health"]["Log"]
        assert log["ExitCode"] == 1
        command = image.healthcheck["Test"][1:]
        by_hand = _run(["podman", "exec", name, *command])
        assert by_hand.returncode == 1 and "Connection refused" in by_hand.stderr
