"""Commands that do what they say: every problem of a persona at once, one way to name a
contact everywhere, the outbox listed, flags and counts written for people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("commands")
    result = run_cli(["demo", "--contacts", "24", "--file", "d.db"], {}, workdir)
    assert result.returncode == 0, result.stderr
    return workdir, {"DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'd.db'}"}


def test_check_persona_reports_every_problem_in_one_run(tmp_path: Path) -> None:
    persona = tmp_path / "broken.yaml"
    persona.write_text(
        """
name: Mia
languages: [en, es]
link: {url: "https://example.com/shop", platform: my shop}
stages: [{name: cold, max_replies: "three"}]
exits: {en: ["bye for now"]}
disclosure: {en: ["this is an AI assistant answering DMs"], es: ["soy un asistente de IA de Mia"]}
opt_out_goodbye: {en: "sorry, take care!", de: "tschüss"}
""",
        encoding="utf-8",
    )
    result = run_cli(["check-persona", str(persona)], {}, tmp_path)
    assert result.returncode == 1
    out = result.stdout
    for field in (
        "stages.0.max_replies",  # a type error
        "exits.es",  # a listed language without goodbyes
        "opt_out_goodbye.es",  # … without an opt-out answer
        "disclosure.en",  # the persona's name missing from its disclosure
        "opt_out_goodbye.de",  # lines for a language that is not listed
    ):
        assert field in out, (field, out)
    assert "Traceback" not in result.stderr


def test_every_command_takes_the_same_contact_references(
    demo: tuple[Path, dict[str, str]],
) -> None:
    workdir, env = demo
    by_id = run_cli(["history", "fan005"], env, workdir)
    by_name = run_cli(["history", "@fan005"], env, workdir)
    assert by_id.returncode == by_name.returncode == 0 and by_id.stdout == by_name.stdout
    internal = json.loads(
        run_cli(["deliveries", "--json", "--contact", "@fan005"], env, workdir).stdout
    )
    assert internal and {row["subscriber"] for row in internal} == {"fan005"}
    for command in (["history", "@ghost"], ["convert", "@ghost"], ["audit", "--contact", "id:999"]):
        missing = run_cli(command, env, workdir)
        assert missing.returncode == 1 and "no contact" in missing.stderr, command
        assert "@ghost" in missing.stderr or "id:999" in missing.stderr
    bad = run_cli(["history", "id:abc"], env, workdir)
    assert bad.returncode == 2 and "numeric" in bad.stderr


def test_converting_a_stopped_contact_says_nothing_will_be_sent(
    demo: tuple[Path, dict[str, str]],
) -> None:
    workdir, env = demo
    result = run_cli(["convert", "fan020"], env, workdir)  # fan020 said they were 16
    assert result.returncode == 0
    assert "stopped (minor)" in result.stdout and "nothing will be sent" in result.stdout
    again = run_cli(["convert", "fan020"], env, workdir)
    assert "already" in again.stdout


def test_the_outbox_is_listed(demo: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo
    listed = run_cli(["deliveries", "--limit", "5"], env, workdir)
    assert listed.returncode == 0 and "the newest 5 deliveries of" in listed.stdout
    sent = json.loads(run_cli(["deliveries", "--json", "--state", "sent"], env, workdir).stdout)
    assert sent and all(row["state"] == "sent" and row["via"] == "response" for row in sent)
    wrong = run_cli(["deliveries", "--state", "lost"], env, workdir)
    assert wrong.returncode == 2 and "lost" in wrong.stderr


def test_flags_version_and_counts_read_well(demo: tuple[Path, dict[str, str]]) -> None:
    workdir, env = demo
    helped = run_cli(["audit", "--help"], env, workdir).stdout
    assert "--json" in helped and "--since DATE" in helped and "<str>" not in helped
    assert run_cli(["--version"], env, workdir).stdout.startswith("dmpilot ")
    status = run_cli(["status"], env, workdir).stdout
    assert "24 contacts" in status and "1 contacts" not in status
