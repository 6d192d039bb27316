"""``modelscan --view NAME``: every view on stdout, as the library renders it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelscan
from modelscan import views
from modelscan.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


@pytest.mark.parametrize("view", views.VIEW_NAMES)
def test_every_view(view: views.ViewName, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--view", view, str(FIXTURES)]) == 0
    out, err = capsys.readouterr()
    report = modelscan.scan_models(FIXTURES)
    assert out == views.dumps(views.render(view, report.models, report.problems)).decode()
    assert len(err.splitlines()) == 3  # the problems, whatever the view


def test_default_view_is_v1_and_facts_is_a_synonym(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for args in ([], ["--view", "v1"], ["--facts"], ["--view", "facts"], ["--facts", "--view", "facts"]):
        assert main([*args, str(FIXTURES)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] != outputs[2]
    assert outputs[2] == outputs[3] == outputs[4]
    assert list(json.loads(outputs[2])) == ["models", "problems"]


def test_facts_and_another_view_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--facts", "--view", "v0", str(FIXTURES)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "modelscan: --facts and --view v0 ask for two views; give one\n"


def test_unknown_view_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--view", "v2", str(FIXTURES)])
    assert exit_info.value.code == 2
    assert "argument --view: invalid choice: 'v2'" in capsys.readouterr().err


def test_loaded_applies_to_v0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"config": {"context_length": 8192}}]}))
    assert main(["--view", "v0", "--loaded", str(loaded), str(FIXTURES)]) == 0
    items = {i["id"]: i for i in json.loads(capsys.readouterr().out)["data"]}
    assert items["gemma-3-270m-it-qat"]["loaded_context_length"] == 8192
    loaded.write_text(json.dumps({"nope": [{}]}))
    assert main(["--view", "v0", "--loaded", str(loaded), str(FIXTURES)]) == 2
    assert main(["--view", "openai", "--loaded", str(loaded), str(FIXTURES)]) == 0  # read, not applied


def test_variants_and_parallel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"qwen2.5-0.5b-instruct@q8_0": [{"config": {"parallel": 8}}]}))
    assert main(["--variants", "--parallel", "--loaded", str(loaded), str(FIXTURES)]) == 0
    (qwen,) = [m for m in json.loads(capsys.readouterr().out)["models"] if "variants" in m]
    assert qwen["key"] == "qwen2.5-0.5b-instruct"
    assert qwen["loaded_instances"][0]["config"]["parallel"] == 8
    assert main(["--view", "lms", "--variants", str(FIXTURES)]) == 0
    (qwen_lms,) = [m for m in json.loads(capsys.readouterr().out) if "variants" in m]
    assert qwen_lms["selectedVariant"] == "qwen2.5-0.5b-instruct@q4_k_m"
