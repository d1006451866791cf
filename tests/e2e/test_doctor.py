"""`dmpilot doctor` against real loopback services: a good deployment passes; each broken
item fails, exits 1 and names its fix; nothing secret is printed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmpilot.personas import bundled_persona_path
from dmpilot.store.revision import schema_state
from fakes.anthropic_api import FakeAnthropic, FakeServer
from fakes.graph_api import FakeGraphAPI
from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from support import free_port, run_cli

ANTHROPIC_KEY = "sk-ant-doctor-right-key-0123456789"
STRONG_TOKEN = "q7Vr2mKx9LpA4wZs8NbE3hJd6TfY1cUo"
META_TOKEN = "IGAAdoctorRightInstagramToken0123456789abc"
META_ACCOUNT = "17841400000000055"
META_APP_SECRET = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
META_VERIFY_TOKEN = "Wq4nZ8rT2yLp6sVd"
STATUSES = {"pass", "warn", "fail", "skip"}


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    """A fake Anthropic API that accepts ANTHROPIC_KEY only."""
    api = FakeAnthropic(api_key=ANTHROPIC_KEY)
    with FakeServer(api.app()) as server:
        api.url = server.url
        yield api


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    """A fake Instagram Graph API that knows META_TOKEN, for META_ACCOUNT."""
    with FakeGraphAPI(access_token=META_TOKEN, account_id=META_ACCOUNT).serve() as fake:
        yield fake


@pytest.fixture
def persona(tmp_path: Path) -> Path:
    """The example persona made someone's own: another name, another link."""
    text = bundled_persona_path().read_text(encoding="utf-8")
    text = text.replace("Lena", "Mara").replace(
        "https://example.com/lena-presets", "https://shop.mara.photo/presets"
    )
    path = tmp_path / "mara.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file for the tests that break something else."""
    workdir = tmp_path_factory.mktemp("doctor")
    return migrated(f"sqlite:///{workdir / 'd.db'}", workdir)


def migrated(url: str, cwd: Path) -> str:
    result = run_cli(["migrate"], {"DMPILOT_DATABASE_URL": url}, cwd)
    assert result.returncode == 0, result.stderr
    return url


def good_env(
    database: str,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
    graph: FakeGraphAPI | None = None,
) -> dict[str, str]:
    """Every check's settings right; with `graph`, the Instagram channel too."""
    env = {
        "DMPILOT_DATABASE_URL": database,
        "DMPILOT_WEBHOOK_TOKEN": STRONG_TOKEN,
        "DMPILOT_PERSONA": str(persona),
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": anthropic.url,
        "DMPILOT_DELIVERY": "hybrid",
        "DMPILOT_MANYCHAT_API_KEY": DEFAULT_KEY,
        "DMPILOT_MANYCHAT_API_URL": manychat.url,
    }
    if graph is not None:
        env |= {
            "DMPILOT_META_APP_SECRET": META_APP_SECRET,
            "DMPILOT_META_VERIFY_TOKEN": META_VERIFY_TOKEN,
            "DMPILOT_META_ACCESS_TOKEN": META_TOKEN,
            "DMPILOT_META_ACCOUNT_ID": META_ACCOUNT,
            "DMPILOT_META_GRAPH_URL": graph.url,
        }
    return env


def doctor_json(
    env: dict[str, str], cwd: Path, *args: str
) -> tuple[int, dict[str, dict[str, str]]]:
    result = run_cli(["doctor", "--json", "--timeout", "3", *args], env, cwd)
    assert "Traceback" not in result.stderr, result.stderr
    checks = json.loads(result.stdout)
    return result.returncode, {check["name"]: check for check in checks}


def assert_no_secret(text: str) -> None:
    for secret in (
        STRONG_TOKEN,
        ANTHROPIC_KEY,
        DEFAULT_KEY,
        "fake-manychat-secret",
        "wrongpass",
        META_TOKEN,
        META_APP_SECRET,
        META_VERIFY_TOKEN,
        "IGAAwrongInstagramToken",
    ):
        assert secret not in text


def test_a_good_deployment_passes_on_sqlite_and_postgresql(
    database_url: str,
    tmp_path: Path,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
    graph: FakeGraphAPI,
) -> None:
    env = good_env(migrated(database_url, tmp_path), persona, anthropic, manychat, graph)
    result = run_cli(["doctor"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready" in result.stdout and "✗" not in result.stdout
    assert_no_secret(result.stdout + result.stderr)

    code, checks = doctor_json(env, tmp_path)
    assert code == 0
    assert {name: c["status"] for name, c in checks.items()} == {
        "webhook token": "pass",
        "persona": "pass",
        "brain": "pass",
        "database": "pass",
        "database connections": "skip" if database_url.startswith("sqlite") else "pass",
        "ManyChat API key": "pass",
        "Instagram (Meta) secrets": "pass",
        "Instagram access token": "pass",
        "public URL": "skip",
    }
    assert META_ACCOUNT in checks["Instagram access token"]["detail"]
    assert anthropic.probes and manychat.requests[-1]["path"] == "/fb/page/getInfo"
    assert graph.requests[-1]["path"] == "/v25.0/me"


def test_the_json_output_is_a_list_of_checks(
    tmp_path: Path, persona: Path, anthropic: FakeAnthropic, manychat: FakeManyChat
) -> None:
    env = good_env(f"sqlite:///{tmp_path / 'none.db'}", persona, anthropic, manychat)
    result = run_cli(["doctor", "--json"], env, tmp_path)
    checks = json.loads(result.stdout)
    assert isinstance(checks, list) and len(checks) == 9
    # Without any DMPILOT_META_*, both Instagram checks say the channel is not configured.
    instagram = [c for c in checks if c["name"].startswith("Instagram")]
    assert [c["status"] for c in instagram] == ["skip", "skip"]
    assert all("not configured" in c["detail"] for c in instagram)
    for check in checks:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in STATUSES
        assert all(isinstance(value, str) for value in check.values())
        if check["status"] == "fail":
            assert check["fix"], check
    assert len({check["name"] for check in checks}) == len(checks)
    assert result.returncode == 1  # the database file does not exist
    assert not (tmp_path / "none.db").exists()  # doctor never creates or migrates it


@pytest.mark.parametrize(
    ("broken", "check", "problem", "fix"),
    [
        (
            {"DMPILOT_WEBHOOK_TOKEN": "changeme"},
            "webhook token",
            "fewer than 24",
            "secrets.token_urlsafe",
        ),
        (
            {"DMPILOT_WEBHOOK_TOKEN": "my-secret-webhook-token-please-change"},
            "webhook token",
            "placeholder",
            "DMPILOT_WEBHOOK_TOKEN",
        ),
        ({"DMPILOT_WEBHOOK_TOKEN": ""}, "webhook token", "not set", "DMPILOT_WEBHOOK_TOKEN"),
        ({"DMPILOT_PERSONA": ""}, "persona", "bundled example", "DMPILOT_PERSONA"),
        (
            {"ANTHROPIC_API_KEY": "sk-ant-wrong"},
            "brain",
            "refused the API key",
            "ANTHROPIC_API_KEY",
        ),
        (
            {"DMPILOT_MANYCHAT_API_KEY": "1234567:wrongpass"},
            "ManyChat API key",
            "refused the API key",
            "ManyChat → Settings → API",
        ),
        (
            {"DMPILOT_META_ACCESS_TOKEN": "IGAAwrongInstagramToken0123456789"},
            "Instagram access token",
            "refused the access token",
            "Generate token",
        ),
        (
            {"DMPILOT_PUBLIC_URL": "http://dm.example.com"},
            "public URL",
            "not HTTPS",
            "HTTPS proxy",
        ),
    ],
    ids=[
        "short-token",
        "placeholder-token",
        "no-token",
        "example-persona",
        "anthropic-401",
        "manychat-key",
        "instagram-token",
        "http-url",
    ],
)
def test_each_broken_item_fails_with_its_fix(
    tmp_path: Path,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
    graph: FakeGraphAPI,
    sqlite_database: str,
    broken: dict[str, str],
    check: str,
    problem: str,
    fix: str,
) -> None:
    env = good_env(sqlite_database, persona, anthropic, manychat, graph)
    if broken.get("DMPILOT_PERSONA") == "":
        env["DMPILOT_PERSONA"] = str(bundled_persona_path())
    else:
        env.update(broken)
    result = run_cli(["doctor"], env, tmp_path)
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    failure = next(i for i, line in enumerate(lines) if line.startswith(f"✗ {check}:"))
    assert problem in lines[failure], lines[failure]
    assert lines[failure + 1].strip().startswith("fix:") and fix in lines[failure + 1]
    assert sum(line.startswith("✗") for line in lines) == 1, result.stdout  # only that one
    assert "not ready" in result.stdout and "Traceback" not in result.stderr
    assert_no_secret(result.stdout + result.stderr)
    assert "sk-ant-wrong" not in result.stdout


def test_an_unreachable_https_url_fails(
    tmp_path: Path,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
    sqlite_database: str,
) -> None:
    env = good_env(sqlite_database, persona, anthropic, manychat)
    env["DMPILOT_PUBLIC_URL"] = f"https://127.0.0.1:{free_port()}"
    code, checks = doctor_json(env, tmp_path)
    assert code == 1
    assert checks["public URL"]["status"] == "fail"
    assert "did not answer" in checks["public URL"]["detail"]
    assert "proxy" in checks["public URL"]["fix"]


def test_an_unmigrated_database_fails_and_is_left_alone(
    database_url: str,
    tmp_path: Path,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
) -> None:
    if database_url.startswith("sqlite"):
        # An existing SQLite file without dmpilot's schema.
        sqlite3.connect(database_url.removeprefix("sqlite:///")).close()
    env = good_env(database_url, persona, anthropic, manychat)
    code, checks = doctor_json(env, tmp_path)
    assert code == 1
    database = checks["database"]
    assert database["status"] == "fail" and "no dmpilot schema" in database["detail"]
    assert database["fix"] == "run `dmpilot migrate`"
    # Still unmigrated: doctor only compared revisions.
    assert schema_state(database_url, 3).current is None


def test_a_postgres_pool_that_could_exhaust_max_connections_warns(
    postgres_url: str,
    tmp_path: Path,
    persona: Path,
    anthropic: FakeAnthropic,
    manychat: FakeManyChat,
) -> None:
    env = good_env(migrated(postgres_url, tmp_path), persona, anthropic, manychat)
    env["DMPILOT_POOL_SIZE"] = "50"
    code, checks = doctor_json(env, tmp_path, "--processes", "4")
    assert code == 0  # a warning is not a failure
    connections = checks["database connections"]
    assert connections["status"] == "warn"
    assert "4 processes × 2 × DMPILOT_POOL_SIZE 50 = 400" in connections["detail"]
    assert "max_connections" in connections["detail"]
    assert "DMPILOT_POOL_SIZE" in connections["fix"]
    assert_no_secret(json.dumps(checks))
