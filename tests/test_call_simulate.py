"""`ivr call simulate`: step parsing, and a whole offline call through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ivr.cli import app
from ivr.session.simulate import StepError, parse_step
from speech.wav import read_wav


def test_parse_steps() -> None:
    assert parse_step("press:12#").kind == "press"
    assert parse_step("0").kind == "press"
    assert parse_step("wait:2.5").value == "2.5"
    assert parse_step("say-text:yes please").kind == "say_text"
    for bad in ["", "wait:x", "press:12a", "say:/no/such.wav", "hello", "wait:9999"]:
        with pytest.raises(StepError):
            parse_step(bad)


def test_cli_simulates_a_call_and_writes_what_the_caller_heard(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    from ivr.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "seed"]).exit_code == 0
    out = tmp_path / "heard.wav"
    result = runner.invoke(
        app,
        [
            "call",
            "simulate",
            "say-text:yes",
            "press:0",
            "--speed",
            "8",
            "-o",
            str(out),
            "--from",
            "+441632960001",
        ],
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "intent yes" in result.output.replace("\n", " ")
    assert "confirm_identity -> main_menu" in result.output
    heard = read_wav(out)
    assert heard.sample_rate == 8000 and heard.duration > 10  # greeting, menu, transfer notice


def test_cli_rejects_a_bad_step() -> None:
    result = CliRunner().invoke(app, ["call", "simulate", "press:abc"])
    assert result.exit_code == 2
    assert "keys are 0-9" in result.output
