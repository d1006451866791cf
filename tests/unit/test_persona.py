from pathlib import Path
from typing import Any

import pytest
import yaml

from dmpilot.personas import PersonaError, bundled_persona_path, load_persona


def test_bundled_persona_is_valid_and_bilingual() -> None:
    persona = load_persona()
    assert persona.languages == ["en", "fr"]
    assert [s.name for s in persona.stages] == ["cold", "warm", "hot", "pitched"]
    assert set(persona.exits) == {"en", "fr"}
    assert persona.reactivate_after_days is None  # reactivation is off by default
    for language in persona.languages:
        assert set(persona.phrases[language].stages) == {s.name for s in persona.stages}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "persona.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(bundled_persona_path().read_text(encoding="utf-8"))
    return data


def test_error_names_file_field_and_fix(tmp_path: Path) -> None:
    data = _example()
    data["stages"][1]["max_replies"] = 0
    path = _write(tmp_path, data)
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    message = str(caught.value)
    assert str(path) in message
    assert "stages.1.max_replies" in message
    assert "greater than or equal to 1" in message
    assert "docs/persona.md" in message


def test_missing_exit_language_is_explained(tmp_path: Path) -> None:
    data = _example()
    del data["exits"]["fr"]
    with pytest.raises(
        PersonaError, match=r"exits: add lines for every language .*missing: \['fr'\]"
    ):
        load_persona(_write(tmp_path, data))


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    data = _example()
    data["maxwords"] = 10
    with pytest.raises(PersonaError, match="maxwords: Extra inputs are not permitted"):
        load_persona(_write(tmp_path, data))


def test_phrase_stage_must_exist(tmp_path: Path) -> None:
    data = _example()
    data["phrases"]["en"]["stages"]["closing_time"] = ["bye"]
    with pytest.raises(PersonaError, match="closing_time"):
        load_persona(_write(tmp_path, data))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="no such file"):
        load_persona(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(PersonaError, match="not valid YAML"):
        load_persona(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(PersonaError, match="a persona is a YAML mapping"):
        load_persona(listy)


def test_lines_are_kept_exactly_as_sent_without_stray_spaces(tmp_path: Path) -> None:
    data = _example()
    data["exits"]["en"] = ["  bye for now, take care!  "]
    data["disclosure"]["en"] = [" honest answer: I'm Lena's AI assistant "]
    data["opt_out_goodbye"] = {"en": " of course, take care! ", "fr": ""}
    persona = load_persona(_write(tmp_path, data))
    assert persona.exits["en"] == ["bye for now, take care!"]
    assert persona.disclosure["en"] == ["honest answer: I'm Lena's AI assistant"]
    assert persona.opt_out_goodbye == {"en": "of course, take care!", "fr": None}


def test_pacing_may_be_minutes_but_not_more_than_an_hour(tmp_path: Path) -> None:
    data = _example()
    data["reply_delay_seconds"] = [120, 300]
    assert load_persona(_write(tmp_path, data)).reply_delay_seconds == (120, 300)
    data["reply_delay_seconds"] = [0, 7200]
    with pytest.raises(PersonaError, match="reply_delay_seconds"):
        load_persona(_write(tmp_path, data))
