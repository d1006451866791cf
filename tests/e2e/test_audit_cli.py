"""dmpilot demo / audit / history / stats as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import shlex
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from dmpilot.audit.synthetic import generate
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from support import run_cli, text_inbound


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("demo")
    env = {"DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'demo.db'}"}
    result = run_cli(["demo", "--contacts", "30", "--file", "demo.db"], {}, workdir)
    assert result.returncode == 0, result.stderr
    assert "demo history written" in result.stdout
    assert "dmpilot --database sqlite:///demo.db audit" in result.stdout
    return workdir, env


def test_the_demo_never_writes_next_to_real_contacts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = Store.open(url)
    with store.writing() as unit:
        unit.inbox.record(
            text_inbound("real-fan", "hi"),
            utcnow(),
            dedup_window=timedelta(seconds=30),
            language=None,
        )
    store.close()
    refused = run_cli(["--database", url, "demo", "--into-database"], {}, tmp_path)
    assert refused.returncode == 1 and "real contacts" in refused.stderr
    default = run_cli(["--database", url, "demo", "--contacts", "2"], {}, tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "dmpilot-demo.db").exists()
    again = run_cli(["demo", "--contacts", "3"], {}, tmp_path)  # starts its file over
    printed = [line.strip() for line in again.stdout.splitlines() if "--database" in line]
    status = subprocess.run(
        [*shlex.split(printed[1].replace(" stats", "")), "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr  # the printed commands run as printed
    assert "3 contacts" in status.stdout


def test_a_clean_history_audits_clean(demo_db: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo_db
    human = run_cli(["audit"], env, workdir)
    assert human.returncode == 0 and "0 findings" in human.stdout
    report = json.loads(run_cli(["audit", "--json"], env, workdir).stdout)
    assert report["total"] == 0 and report["contacts"] == 30 and report["messages"] > 300


def test_history_and_stats(demo_db: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo_db
    timeline = run_cli(["history", "fan020"], env, workdir)
    assert timeline.returncode == 0
    assert "I'm 16 btw" in timeline.stdout and "minor" in timeline.stdout
    missing = run_cli(["history", "@nobody"], env, workdir)
    assert missing.returncode == 1 and "no contact" in missing.stderr
    figures = json.loads(run_cli(["stats", "--json"], env, workdir).stdout)
    assert figures["contacts"] == 30 and figures["stops"]["minor"] == 1
    assert run_cli(["stats"], env, workdir).returncode == 0


def test_findings_fail_the_audit_for_cron(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planted.db'}"
    store = Store.open(url)
    _, planted = generate(store, load_persona(), contact_count=20, per_plant=2, now=utcnow())
    store.close()
    env = {"DMPILOT_DATABASE_URL": url}
    result = run_cli(["audit", "--json"], env, tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["totals"] == {finding.value: count for finding, count in planted.items()}
    total = report["total"]
    assert run_cli(["audit", "--max-findings", str(total)], env, tmp_path).returncode == 0
    rows = list(csv.DictReader(io.StringIO(run_cli(["audit", "--csv"], env, tmp_path).stdout)))
    assert len(rows) == len(report["by_contact"]) and "POTENTIAL_LOOP" in rows[0]
    scoped = json.loads(run_cli(["audit", "--json", "--contact", "@fan6"], env, tmp_path).stdout)
    assert scoped["contacts"] == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["audit", "--since", "yesterday"], "--since"),
        (["audit", "--json", "--csv"], "one of --json and --csv"),
        (["audit", "--contact", "@ghost"], "no contact"),
        (["audit", "--max-findings", "-1"], "--max-findings"),
    ],
)
def test_bad_audit_arguments(tmp_path: Path, args: list[str], needle: str) -> None:
    result = run_cli(args, {"DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}, tmp_path)
    assert result.returncode in (1, 2)
    assert needle in result.stderr and "Traceback" not in result.stderr
