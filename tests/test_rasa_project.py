"""The Rasa project as a whole: training data validation, story tests, the generated files
being up to date, and the NLU evaluation targets on the held-out set."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.servers import latest_model

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run(*args, timeout=600):
    return subprocess.run(list(args), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def test_domain_is_generated_from_the_knowledge_base():
    r = run(str(BIN / "python"), "-m", "actions.dialogue.domain", "--check")
    assert r.returncode == 0, r.stderr


def test_training_data_validates_without_warnings():
    r = run(str(BIN / "rasa"), "data", "validate", "--fail-on-warnings")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]


def test_story_tests_pass_without_prediction_errors(tmp_path):
    r = run(str(BIN / "rasa"), "test", "core", "--stories", "tests/test_stories.yml",
            "--model", str(latest_model()), "--fail-on-prediction-errors",
            "--out", str(tmp_path))
    failed = tmp_path / "failed_test_stories.yml"
    detail = failed.read_text() if failed.exists() else ""
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + detail[-3000:]


HELDOUT_SETS = ["tests/nlu/heldout.yml", "tests/nlu/heldout_blind.yml"]


@pytest.fixture(scope="module", params=HELDOUT_SETS, ids=["heldout", "heldout_blind"])
def nlu_evaluation(request):
    r = run(str(BIN / "python"), "scripts/eval_nlu.py", "--json", "--errors", "--set",
            request.param)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


# That no held-out case, nor a near-copy of one, is trained on: tests/test_eval_sets.py.


def test_intent_accuracy_on_heldout_set(nlu_evaluation):
    # 0.93 / 0.963 since the training examples that near-copied held-out cases were removed
    # (issue 9): honest figures; the blind sets in eval/ are the measure that counts
    assert nlu_evaluation["intent_accuracy"] >= 0.90, nlu_evaluation["errors"]


def test_fact_extraction_f1_on_heldout_set(nlu_evaluation):
    assert nlu_evaluation["fact_f1"] >= 0.90, nlu_evaluation["errors"]
