"""What the assistant understands, through the trained model: Rasa's parse (the project's
spaCy pipeline, DIET's intent, the intent corrections), then the same fact mapping as the
conversation with the intent the model predicted — so a statement the classifier takes for
a question, or a fallback, is caught here (tests/test_nlu_understanding.py fixes the intent).
"""
import asyncio
from typing import Any, Dict

import pytest

from actions.nlu.__main__ import load_agent
from actions.nlu.facts import facts_from_message, to_contract


@pytest.fixture(scope="module")
def agent():
    return load_agent()


def understand(agent, text: str) -> Dict[str, Any]:
    parsed = asyncio.run(agent.parse_message(text))
    intent = (parsed.get("intent") or {}).get("name")
    update = facts_from_message(parsed.get("entities") or [], intent=intent, text=text)
    return {"intent": intent, **to_contract(update), "unknown": update["unknown_facts"]}


CASES = [
    # (text, what must hold)
    ("my cardiologist started me on Brilinta after my heart attack three years back",
     {"facts": {"anticoagulant": True}}),
    ("possibly pregnant, too early to tell", {"facts": {}, "unknown": ["pregnant"]}),
    ("came off Claravis at Christmas",
     {"isotretinoin_current": False, "isotretinoin_ever": True}),
    ("I'm prone to cold sores around my mouth", {"areas": [], "cold_sore_history": True}),
    ("is a 1 mm roller alright for the lines round my mouth? 44M",
     {"age": 44, "concerns": ["fine_lines_wrinkles"], "areas": ["chin_jaw"],
      "device": {"type": "roller", "needle_mm": 1.0}}),
    ("hang on, scratch that - I've just taken a test and it's positive",
     {"pregnant": True, "open_wound": None}),
    ("I'm not on roaccutane anymore, I finished the course at the end of september",
     {"isotretinoin_current": False, "isotretinoin_ever": True}),
    ("a little growth by my ear that's been there ages, never had anyone look at it",
     {"suspicious_lesion": True}),
    ("had it surgically removed", {"open_wound": None}),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0][:40] for c in CASES])
def test_statements_in_peoples_own_words(agent, text, expected):
    out = understand(agent, text)
    for key, value in expected.items():
        if key in ("facts", "areas", "concerns", "device", "age", "unknown"):
            if key == "facts":
                assert out["facts"] == value, out
            else:
                assert out[key] == value, out
        else:  # a single fact: True / False, or None for "not recorded at all"
            assert out["facts"].get(key) is value, out


@pytest.mark.parametrize("text, flag", [
    ("my mouth is blowing up and my throat feels like it's closing", "face_swelling"),
    ("I can't get air in properly", "breathing_difficulty"),
    ("my skin become very red and hot, what I must do?", "spreading_redness"),
    ("my lips feel swollen after the pen, is that normal?", "face_swelling"),
    ("there's yellow gunk coming out of the dots from yesterday's session", "pus"),
])
def test_a_warning_sign_in_everyday_words_is_report_symptom(agent, text, flag):
    out = understand(agent, text)
    assert out["intent"] == "report_symptom", out
    assert flag in out["red_flags"], out
