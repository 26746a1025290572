"""The command line, run as a person or a script would: `python -m actions.triage ...`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "home_suitable.json"
CONTRACT_KEYS = {"disposition", "should_stop", "reasons", "missing", "rules_version"}
LEVELS = ("emergency", "urgent_care", "do_not_treat", "professional_consult",
          "home_with_precautions", "home_suitable")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actions.triage", *args], cwd=REPO,
                          input=stdin, capture_output=True, text=True, timeout=60)


def intake(facts: dict | None = None, **top) -> dict:
    """The complete all-"no" example intake, with some facts and top-level fields changed."""
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["facts"].update(facts or {})
    data.update(top)
    return data


def write(tmp_path: Path, data, name: str = "intake.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- assess

def test_assess_file_prints_the_assessment_as_json():
    run = cli("assess", str(EXAMPLE))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = json.loads(run.stdout)
    assert CONTRACT_KEYS <= set(out)
    assert out["disposition"] == "home_suitable"
    assert set(out["home_plan"]) >= {"areas", "not_before_days", "precautions", "aftercare"}
    assert out["missing"] == []


def test_assess_stdin():
    data = intake({"anticoagulant": True})
    run = cli("assess", "-", stdin=json.dumps(data))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert CONTRACT_KEYS <= set(out)
    assert out["disposition"] == "professional_consult"
    assert [r["rule"] for r in out["reasons"]] == ["anticoagulant"]
    assert "home_plan" not in out
    reason = out["reasons"][0]
    assert {"rule", "level", "message", "sources"} <= set(reason)


def test_assess_file_and_stdin_agree():
    by_file = cli("assess", str(EXAMPLE))
    by_stdin = cli("assess", "-", stdin=EXAMPLE.read_text(encoding="utf-8"))
    assert json.loads(by_file.stdout) == json.loads(by_stdin.stdout)


def test_assess_an_early_empty_intake_lists_what_is_missing():
    run = cli("assess", "-", stdin="{}")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["disposition"] == "professional_consult"
    assert out["missing"][:3] == ["concerns", "areas", "age"]


def test_assess_red_flag_is_emergency():
    run = cli("assess", "-", stdin=json.dumps({"red_flags": ["breathing_difficulty"]}))
    out = json.loads(run.stdout)
    assert out["disposition"] == "emergency"
    assert out["should_stop"] is True
    assert out["disposition"] in LEVELS


# --------------------------------------------------------------------------- explain

def test_explain_home_intake_shows_disposition_and_home_plan():
    run = cli("explain", str(EXAMPLE))
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "home_suitable" in text
    assert "Home plan:" in text
    assert "forehead: at most 0.5 mm, at least 7 days between sessions" in text
    assert "Aftercare:" in text
    assert "Rules version:" in text


def test_explain_shows_reasons_with_source_titles(tmp_path):
    data = intake(areas=["forehead", "under_eye"], recent_procedures={"botox": 10})
    run = cli("explain", str(write(tmp_path, data)))
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "home_with_precautions" in text
    assert "recent_botox" in text and "area_under_eye" in text
    # source ids are shown by their titles from evidence.md
    assert "clinic article on cosmetic vs medical micro-needling (2024)" in text
    assert "Dr. Pen needle depth guide" in text
    assert "under the eyes: at most 0.25 mm, at least 2 days between sessions" in text
    assert "not before 4 days from now" in text


def test_explain_stdin_do_not_treat_has_no_home_plan():
    run = cli("explain", "-", stdin=json.dumps(intake({"pregnant": True})))
    assert run.returncode == 0, run.stderr
    assert "do_not_treat" in run.stdout
    assert "pregnant" in run.stdout
    assert "SkinPen Precision instructions for use" in run.stdout
    assert "until: after your pregnancy" in run.stdout
    assert "Home plan:" not in run.stdout


# --------------------------------------------------------------------------- bad input

BAD = [
    ("malformed-json", '{"age": 34,', "JSON"),
    ("not-json-at-all", "hello", "JSON"),
    ("age-500", json.dumps(intake(age=500)), "age"),
    ("unknown-fact", json.dumps(intake({"smoker": True})), "smoker"),
    ("pregnant-yes", json.dumps(intake({"pregnant": "yes"})), "pregnant"),
    ("needle-5mm", json.dumps(intake(device={"type": "pen", "needle_mm": 5})), "needle"),
    ("json-list", "[1, 2]", "object"),
    ("age-401-digits", '{"age": 1' + "0" * 400 + "}", "age"),
    ("number-5001-digits", '{"age": 1' + "0" * 5000 + "}", "JSON"),
    ("nested-too-deep", "[" * 100_000 + "]" * 100_000, "JSON"),
]


@pytest.mark.parametrize("command", ["assess", "explain"])
@pytest.mark.parametrize("text, mentions", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_file_exits_2_with_one_line(tmp_path, command, text, mentions):
    run = cli(command, str(write(tmp_path, text)))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert mentions.lower() in lines[0].lower()


@pytest.mark.parametrize("text, mentions", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_stdin_exits_2_with_one_line(text, mentions):
    run = cli("assess", "-", stdin=text)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert mentions.lower() in run.stderr.lower()


@pytest.mark.parametrize("command", ["assess", "explain"])
def test_missing_file_exits_2_with_one_line(tmp_path, command):
    run = cli(command, str(tmp_path / "no-such-intake.json"))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "no-such-intake.json" in lines[0]


def test_empty_stdin_exits_2():
    run = cli("assess", "-", stdin="")
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1


def test_usage_error_is_not_a_crash():
    run = cli()
    assert run.returncode == 2  # argparse usage error
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
