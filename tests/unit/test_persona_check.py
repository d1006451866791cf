from pathlib import Path

import pytest

from dmpilot.personas import load_persona
from dmpilot.personas.check import (
    PersonaProblem,
    Severity,
    check_persona,
    check_persona_file,
)
from support import example_persona_data, write_persona


def _at(problems: list[PersonaProblem], severity: Severity) -> dict[str, str]:
    return {p.field: p.message for p in problems if p.severity is severity}


def test_the_bundled_example_has_no_error() -> None:
    persona, problems = check_persona_file(None)
    assert persona is not None
    assert _at(problems, Severity.ERROR) == {}
    assert _at(check_persona(persona), Severity.ERROR) == {}


def test_a_file_with_several_problems_reports_all_of_them_at_once(tmp_path: Path) -> None:
    data = example_persona_data()
    del data["exits"]["fr"]  # a listed language without exits
    data["disclosure"]["en"][1] = "good question! i'm an AI assistant"  # whose?
    data["exits"]["de"] = ["ich muss jetzt leider los, bis bald"]  # not in languages
    data["stages"][0]["max_replies"] = "three"  # a type error
    data["stages"][2]["name"] = "closing"  # reserved
    persona, problems = check_persona_file(write_persona(tmp_path, data))
    assert persona is None
    errors = _at(problems, Severity.ERROR)
    assert "add at least one line under exits.fr" in errors["exits.fr"]
    assert "does not name Lena" in errors["disclosure.en.1"]
    assert "add it to languages or remove exits.de" in errors["exits.de"]
    assert "valid integer" in errors["stages.0.max_replies"]
    assert "'three'" in errors["stages.0.max_replies"]
    assert "reserved" in errors["stages.2.name"]
    assert problems[0].severity is Severity.ERROR  # errors come first


def test_coverage_is_checked_even_when_the_loader_would_accept_the_file(tmp_path: Path) -> None:
    data = example_persona_data()
    data["opt_out_goodbye"] = {"en": "of course, sorry to bother you!"}
    data["disclosure"]["fr"] = ["je suis une vraie personne, promis, c'est Lena"]
    data["disclosure"]["en"] = ["i'm an AI helping Lena, see www.lena.com"]
    data["exits"]["en"][0] = " ok i have to run now, see you soon! "
    data["exits"]["fr"][0] = "i have to go now, it was really lovely talking with you"
    data["link"]["budget"] = 0
    path = write_persona(tmp_path, data)
    load_persona(path)  # the loader sees nothing wrong
    persona, problems = check_persona_file(path)
    assert persona is not None
    errors = _at(problems, Severity.ERROR)
    assert "set it to null to answer opt-outs with silence" in errors["opt_out_goodbye.fr"]
    assert "claims to be human" in errors["disclosure.fr.0"]
    assert "carries a link" in errors["disclosure.en.0"]
    warnings = _at(problems, Severity.WARNING)
    assert "whitespace" in warnings["exits.en.0"]
    assert "reads as 'en', not 'fr'" in warnings["exits.fr.0"]
    assert "can never send the link" in warnings["link.budget"]
    # check_persona sees the same coverage problems on the loaded persona.
    assert _at(check_persona(persona), Severity.ERROR) == errors


@pytest.mark.parametrize("silent", [None, ""])
def test_a_null_opt_out_goodbye_is_accepted_as_silence(tmp_path: Path, silent: str | None) -> None:
    data = example_persona_data()
    data["opt_out_goodbye"]["fr"] = silent
    persona, problems = check_persona_file(write_persona(tmp_path, data))
    assert persona is not None
    assert not persona.opt_out_goodbye["fr"]  # "" (or None once the loader takes null): silence
    assert _at(problems, Severity.ERROR) == {}
    assert "silence" in _at(problems, Severity.INFO)["opt_out_goodbye.fr"]


def test_a_language_without_a_phrase_bank_uses_the_built_in_lines(tmp_path: Path) -> None:
    data = example_persona_data()
    data["languages"] = ["en", "fr", "es"]
    data["exits"]["es"] = ["me tengo que ir, ¡gracias por la charla!"]
    data["disclosure"]["es"] = ["soy un asistente de IA que responde por Lena"]
    data["opt_out_goodbye"]["es"] = "claro, perdona la molestia. ¡cuídate!"
    data["forbidden"]["es"] = ["garantizado"]
    persona, problems = check_persona_file(write_persona(tmp_path, data))
    assert persona is not None
    assert _at(problems, Severity.ERROR) == {}
    assert _at(problems, Severity.INFO)["phrases.es"] == "scripted brain: built-in lines for es"


def test_a_missing_file_or_broken_yaml_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    expected = {
        tmp_path / "nope.yaml": "no such file",
        bad: "not valid YAML (line",
        listy: "a persona is a mapping",
        empty: "is empty",
        tmp_path: "cannot be read",
    }
    for path, message in expected.items():
        persona, problems = check_persona_file(path)
        assert persona is None
        [problem] = problems
        assert problem.severity is Severity.ERROR
        assert problem.field == "(file)"
        assert message in problem.message
        assert str(path) in problem.message
