"""What an outside attack on the command line found: input no operator means to give, each
answered by the real `dmpilot` process with a non-zero exit and one line saying what was
wrong and how to fix it — never a traceback, a hang, or every contact's rows."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dmpilot.bootstrap import bootstrap
from dmpilot.store import Store
from dmpilot.web.app import create_app
from support import FakeClock, engine_config, run_cli, settings_for

# A refusal comes well within this; a hang (reading /dev/zero, waiting on a FIFO) does not.
SECONDS = 30


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("attack")
    result = run_cli(["demo", "--contacts", "6", "--file", "d.db"], {}, workdir)
    assert result.returncode == 0, result.stderr
    return workdir, {"DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'd.db'}"}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """run_cli with a shorter timeout, so a hang fails the test rather than stalling it."""
    return run_cli(args, env, cwd, timeout=SECONDS)


def _refused(
    result: subprocess.CompletedProcess[str], *fragments: str, code: int | None = None
) -> str:
    """The one error line of a refused command, after checking it is one."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    if code is not None:
        assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith("error:"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


# -- 1. contact references -------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    ["id:99999999999999999999", "id:9223372036854775808", "id:" + "9" * 5000],
)
def test_a_contact_id_beyond_64_bits_is_out_of_range(
    demo: tuple[Path, dict[str, str]], reference: str
) -> None:
    workdir, env = demo
    for command in (["history", reference], ["deliveries", "--contact", reference]):
        line = _refused(_run(command, env, workdir), "out of range", code=2)
        assert "OverflowError" not in line and "4300" not in line and len(line) < 300


def test_a_subscriber_id_with_a_newline_is_refused(demo: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo
    # No process argument can hold NUL; the unit tests cover it.
    for reference in ("fan\n005", "fan005\x1b[2J"):
        _refused(_run(["convert", reference], env, workdir), "control characters", code=2)


@pytest.fixture
def admin_app(store: Store, database_url: str) -> Iterator[FastAPI]:
    system = bootstrap(
        settings_for(database_url), store=store, clock=FakeClock(), config=engine_config()
    )
    yield create_app(system=system)


def _convert(app: FastAPI, subscriber_id: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dmpilot") as client:
            return await client.post(
                "/admin/contacts/converted",
                content=json.dumps({"subscriber_id": subscriber_id}).encode(),
                headers={"content-type": "application/json"},
            )

    return asyncio.run(go())


def test_the_admin_api_answers_a_huge_id_with_a_422_not_a_500(admin_app: FastAPI) -> None:
    for reference in ("id:99999999999999999999", "id:" + "9" * 5000, "fan\n005"):
        response = _convert(admin_app, reference)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert "out of range" in error or "control characters" in error


# -- 2. persona files ------------------------------------------------------------------------


@pytest.fixture
def bad_personas(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each unusable persona file, with what its error must say."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * 2_000_000 + b"\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    digits = tmp_path / "digits.yaml"
    digits.write_text("name: " + "9" * 5000 + "\n", encoding="utf-8")
    nul = tmp_path / "nul.yaml"
    nul.write_text('name: "Le\\0na"\n', encoding="utf-8")
    return {
        "device": (Path("/dev/zero"), "a device, not a regular file"),
        "fifo": (fifo, "a named pipe (FIFO), not a regular file"),
        "directory": (tmp_path, "a directory, not a regular file"),
        "huge": (huge, "2.0 MB is too large for a persona file (the limit is 1.0 MB)"),
        "deep": (deep, "nested too deeply"),
        "digits": (digits, "more digits than can be read"),
        "nul": (nul, "name holds a control character (U+0000)"),
    }


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "huge", "deep", "digits", "nul"])
def test_check_persona_refuses_what_is_no_persona_file(
    bad_personas: dict[str, tuple[Path, str]], kind: str, tmp_path: Path
) -> None:
    path, expected = bad_personas[kind]
    result = _run(["check-persona", str(path)], {}, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"error (file): {path}: " in result.stdout and expected in result.stdout, result.stdout


@pytest.mark.parametrize("kind", ["device", "fifo", "huge", "deep", "digits"])
def test_serve_refuses_the_same_persona_files(
    bad_personas: dict[str, tuple[Path, str]], kind: str, tmp_path: Path
) -> None:
    path, expected = bad_personas[kind]
    env = {"DMPILOT_PERSONA": str(path), "DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    result = _run(["serve", "--port", str(_free_port())], env, tmp_path)
    _refused(result, str(path), expected, code=2)


# -- 3. arguments that are not UTF-8 ----------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_named_not_a_traceback(
    demo: tuple[Path, dict[str, str]],
) -> None:
    workdir, env = demo
    # What the shell passes for $'\xff': Python sees it as the lone surrogate \udcff.
    invalid = os.fsdecode(b"fan\xff")
    for command in (["history", invalid], ["audit", "--contact", invalid]):
        line = _refused(_run(command, env, workdir), "is not valid UTF-8 text", code=2)
        assert "'fan\\xff'" in line and "UnicodeEncodeError" not in line
    url = _run(
        ["status"], {**env, "DMPILOT_DATABASE_URL": os.fsdecode(b"sqlite:///\xff.db")}, workdir
    )
    _refused(url, "DMPILOT_DATABASE_URL is not valid UTF-8 text", code=2)


# -- 4. databases that cannot hold dmpilot's state -------------------------------------------


MEMORY = ("in-memory SQLite database", "use a file, e.g. sqlite:///dmpilot.db")
BAD_PORT = "is not a port (1-65535); fix the port, e.g. postgresql://user:password@host:5432"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///:memory:", MEMORY),
        ("sqlite://", MEMORY),
        ("sqlite:///file::memory:?uri=true", MEMORY),
        ("postgresql://u@127.0.0.1:99999/db", ("99999", BAD_PORT)),
        ("postgresql://u@127.0.0.1:0/db", (": 0 ", BAD_PORT)),
        ("postgresql://u:pw@127.0.0.1:abc/db", ("is not a database URL; use sqlite:///",)),
    ],
)
def test_a_database_that_cannot_keep_dmpilots_state_is_refused(
    tmp_path: Path, url: str, expected: tuple[str, ...]
) -> None:
    for command in (["--database", url, "status"], ["--database", url, "migrate"]):
        line = _refused(_run(command, {}, tmp_path), *expected, code=2)
        assert "pw@" not in line  # an unparsed URL's password is not echoed


# -- 5. a port already in use ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
        result = _run(["serve", "--port", str(port)], env, tmp_path)
    line = _refused(result, code=1)
    assert line == (
        f"error: port {port} on 127.0.0.1 is already in use — stop the other process or pass --port"
    )
    assert result.stdout == ""  # refused before the database or the banner
    assert not (tmp_path / "s.db").exists()


def test_serve_refuses_an_empty_host_or_an_address_of_another_machine(tmp_path: Path) -> None:
    env = {"DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    port = str(_free_port())
    _refused(
        _run(["serve", "--host", "", "--port", port], env, tmp_path), "--host needs an address"
    )
    _refused(
        _run(["serve", "--host", "[::1]", "--port", port], env, tmp_path),
        "cannot listen on '[::1]'",
    )


# -- 6. empty values that meant "everything" --------------------------------------------------


def test_an_empty_database_url_is_an_error_not_the_default(
    demo: tuple[Path, dict[str, str]],
) -> None:
    workdir, env = demo
    for url in ("", "  "):
        _refused(
            _run(["--database", url, "status"], env, workdir), "--database needs a URL", code=2
        )


def test_an_empty_contact_is_an_error_not_every_contact(demo: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo
    for command in (
        ["deliveries", "--json", "--contact", ""],
        ["deliveries", "--contact", " "],
        ["audit", "--json", "--contact", ""],
    ):
        result = _run(command, env, workdir)
        assert result.stdout == "", command  # nothing listed
        _refused(result, "give a contact", code=2)


def test_an_empty_demo_file_is_an_error_not_the_working_directory(tmp_path: Path) -> None:
    _refused(_run(["demo", "--file", ""], {}, tmp_path), "is a directory", "--file demo.db", code=2)
