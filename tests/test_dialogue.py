"""Pure dialogue functions (actions/dialogue/state.py and render.py), without Rasa: the intake
built from slots, which question comes next, slot updates from one message, and the wording.
"""
from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also when run as plain `pytest`, not `python -m pytest`
    sys.path.insert(0, str(REPO))

from actions.dialogue import render  # noqa: E402
from actions.dialogue.state import (FACTS, KB, QUESTIONS, UNKNOWN, assessment_for,  # noqa: E402
                                    cleared_health_slots, intake_from_slots, next_question,
                                    q_slot, question_items, slot_updates)
from actions.triage.engine import assess  # noqa: E402

EXAMPLE = json.loads((REPO / "examples" / "home_suitable.json").read_text(encoding="utf-8"))
PROFILE = {"concerns": ["texture"], "areas": ["cheeks"], "age": 30}


def slots_from_intake(intake: Dict[str, Any]) -> Dict[str, Any]:
    """The slots the conversation would hold for a contract intake."""
    slots: Dict[str, Any] = dict(intake.get("facts", {}))
    for key in ("age", "skin_type", "concerns", "areas", "red_flags", "recent_procedures"):
        if key in intake:
            slots[key] = copy.deepcopy(intake[key])
    device = intake.get("device") or {}
    slots["device_type"] = device.get("type")
    slots["needle_mm"] = device.get("needle_mm")
    return slots


def with_facts(**facts: Any) -> Dict[str, Any]:
    out = copy.deepcopy(EXAMPLE)
    out["facts"].update(facts)
    return out


# ====================================================================== intake_from_slots

def test_intake_from_slots_round_trip():
    intake = intake_from_slots(slots_from_intake(EXAMPLE))
    expected = {k: v for k, v in EXAMPLE.items() if v not in ({}, [])}  # empties are dropped
    assert intake == expected
    assert assess(intake) == assess(EXAMPLE)


def test_intake_from_slots_round_trip_with_everything():
    full = copy.deepcopy(EXAMPLE)
    full["facts"].update(isotretinoin_ever=True, isotretinoin_stopped_months_ago=8.0,
                         diabetes=True, diabetes_controlled=True)
    full["recent_procedures"] = {"botox": 20, "filler": 3.5}
    full["red_flags"] = ["hives"]
    full["device"] = {"type": "roller", "needle_mm": 0.25}
    assert intake_from_slots(slots_from_intake(full)) == full


def test_unknown_slots_are_left_out_never_false():
    intake = intake_from_slots({"pregnant": None, "anticoagulant": False, "age": None,
                                "concerns": [], "areas": None, "device_type": None,
                                "needle_mm": None, "q_health": UNKNOWN, "mode": "shop"})
    assert intake == {"facts": {"anticoagulant": False}}


def test_intake_from_slots_copies_lists():
    slots = {"areas": ["cheeks"], "recent_procedures": {"botox": 3}}
    intake = intake_from_slots(slots)
    intake["areas"].append("nose")
    intake["recent_procedures"]["peel"] = 1
    assert slots == {"areas": ["cheeks"], "recent_procedures": {"botox": 3}}


def test_needle_without_device_type():
    assert intake_from_slots({"needle_mm": 0.0})["device"] == {"needle_mm": 0.0}


# ========================================================================== next_question

def answer_loop(slots: Dict[str, Any], answer) -> List[str]:
    """Ask and answer until the intake ends (or 20 questions: a loop that never ends)."""
    asked: List[str] = []
    for _ in range(20):
        qid = next_question(slots, assessment_for(slots))
        if qid is None:
            return asked
        asked.append(qid)
        entities, intent, text = answer(qid, slots)
        slots.update(slot_updates(slots, entities, intent, text, q_slot(qid), in_form=True))
    raise AssertionError(f"the intake never ends: {asked}")


def none_of_these(qid: str, slots) -> tuple:
    """Taps "None of these" (or "No"); a choice is answered with its second button; the
    profile with "fine lines on my forehead, I'm 34"."""
    if qid == "confirm":  # the recap before a home answer: "That's right"
        return [], "affirm", "That's right"
    kind = QUESTIONS[qid]["kind"]
    if qid == "profile":
        return ([{"entity": "concern", "value": "fine_lines_wrinkles"},
                 {"entity": "area", "value": "forehead"}, {"entity": "age", "value": 34.0}],
                "inform", "fine lines on my forehead, I'm 34")
    if kind == "choice":
        return [{"entity": "skin_type", "value": "2"}], "inform", "/inform"
    return [], "deny", "None of these"


def test_plain_home_path_in_few_questions():
    slots: Dict[str, Any] = {"consent": True}
    asked = answer_loop(slots, none_of_these)
    assert asked == ["profile", "health", "skin_now", "history", "products_procedures",
                     "skin_type", "confirm"]
    assert len(asked) <= 8  # recap included
    assessment = assessment_for(slots)
    assert assessment["disposition"] == "home_suitable"
    assert assessment["missing"] == [] and assessment["to_ask"] == []


def test_dont_know_to_everything_ends_with_a_professional():
    slots: Dict[str, Any] = {"consent": True}
    asked = answer_loop(slots, lambda qid, s: ([], "dont_know", "I don't know"))
    assert len(asked) == len(set(asked))  # nothing asked twice
    assert all(slots[q_slot(q)] == UNKNOWN for q in asked)
    assert not any(slots.get(f) is False for f in FACTS)
    assert assessment_for(slots)["disposition"] == "professional_consult"


def test_isotretinoin_in_the_past_asks_when_right_after_health():
    slots: Dict[str, Any] = {"consent": True, **PROFILE}

    def answer(qid, s):
        if qid == "health" and s.get("isotretinoin_ever") is None:
            return [{"entity": "fact", "value": "isotretinoin_ever"}], "inform", "/inform"
        if qid == "isotretinoin_when":
            return [], "inform", "8"
        return none_of_these(qid, s)

    asked = answer_loop(slots, answer)
    assert asked[:3] == ["health", "health", "isotretinoin_when"]
    assert slots["isotretinoin_stopped_months_ago"] == 8.0
    assert slots["isotretinoin_current"] is False
    assert assessment_for(slots)["disposition"] == "home_suitable"


def test_diabetes_asks_whether_controlled_next():
    slots = {"consent": True, **PROFILE, **{i: False for i in QUESTIONS["health"]["items"]},
             "diabetes": True}
    assert next_question(slots, assessment_for(slots)) == "diabetes_control"


def test_darker_skin_asks_about_dark_marks():
    slots = {**slots_from_intake(EXAMPLE), "skin_type": 5}
    assert next_question(slots, assessment_for(slots)) == "pih"


def test_no_question_after_a_red_flag_or_a_stop():
    slots = {"consent": True, "red_flags": ["fever"]}
    assert next_question(slots, assessment_for(slots)) is None
    slots = {"consent": True, **PROFILE, "breastfeeding": True}
    assert assessment_for(slots)["should_stop"]
    assert next_question(slots, assessment_for(slots)) is None


def test_question_items_are_the_unknown_ones_in_order():
    slots = {**PROFILE, "pregnant": False, "anticoagulant": True}
    assert question_items("health", assessment_for(slots)) == [
        "breastfeeding", "isotretinoin_current", "isotretinoin_ever", "bleeding_disorder",
        "diabetes", "immunosuppressed"]


# =========================================================================== slot_updates

def test_lists_merge_without_duplicates():
    slots = {"areas": ["cheeks"], "concerns": ["texture"], "red_flags": ["fever"]}
    entities = [{"entity": "area", "value": "cheeks"}, {"entity": "area", "value": "forehead"},
                {"entity": "area", "value": "forehead+cheeks+chin_jaw+nose"},
                {"entity": "concern", "value": "texture"},
                {"entity": "red_flag", "value": "fever"}, {"entity": "red_flag", "value": "pus"}]
    out = slot_updates(slots, entities, "inform", "", None, False)
    assert out == {"areas": ["cheeks", "forehead", "chin_jaw", "nose"],
                   "red_flags": ["fever", "pus"]}
    assert slots["areas"] == ["cheeks"]  # the slot dict itself is not changed


def test_nothing_new_changes_nothing():
    slots = {"areas": ["cheeks"], "pregnant": False, "age": 30}
    entities = [{"entity": "area", "value": "cheeks"},
                {"entity": "fact", "value": "pregnant", "negated": True},
                {"entity": "age", "value": 30.0}]
    assert slot_updates(slots, entities, "inform", "", None, False) == {}


def test_recent_procedures_merge():
    slots = {"recent_procedures": {"botox": 20}}
    entities = [{"entity": "procedure", "value": "filler", "past": True, "ago_days": 10.0}]
    assert slot_updates(slots, entities, "inform", "", None, False) == {
        "recent_procedures": {"botox": 20, "filler": 10.0}}


def test_procedure_without_a_date_counts_as_today():
    out = slot_updates({}, [{"entity": "procedure", "value": "peel"}], "inform", "", None, False)
    assert out == {"recent_procedures": {"peel": 0}}


@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_dont_know_never_sets_a_fact_false(qid):
    slots = {"consent": True}
    out = slot_updates(slots, [], "dont_know", "I don't know", q_slot(qid), in_form=True)
    assert out == {q_slot(qid): UNKNOWN}


def test_dont_know_with_a_stated_fact_keeps_the_fact():
    # "I don't know the others, but I'm on warfarin"
    entities = [{"entity": "fact", "value": "anticoagulant"}]
    out = slot_updates({"consent": True, **PROFILE}, entities, "dont_know",
                       "I don't know the others, but I'm on warfarin", "q_health", True)
    assert out == {"anticoagulant": True}


def test_only_the_asked_question_is_answered_by_no():
    out = slot_updates({"consent": True, **PROFILE}, [], "deny", "no", "q_history", True)
    assert set(out) == set(QUESTIONS["history"]["items"])
    assert not any(out.values())


def test_no_to_procedures_means_asked_and_none():
    out = slot_updates({"consent": True, **PROFILE}, [], "deny", "no", "q_products_procedures",
                       True)
    assert out == {"topical_rx": False, "topical_retinoid_otc": False,
                   "recent_procedures_asked": True}


def test_bare_yes_to_a_checklist_asks_which():
    out = slot_updates({"consent": True, **PROFILE}, [], "affirm", "yes", "q_skin_now", True)
    assert out == {"clarify": "which"}


def test_yes_to_a_yes_no_question():
    slots = {"consent": True, **PROFILE, "diabetes": True}
    out = slot_updates(slots, [], "affirm", "yes", "q_diabetes_control", True)
    assert out == {"diabetes_controlled": True}


def test_mode_entity():
    assert slot_updates({}, [{"entity": "mode", "value": "clinic"}], "start", "", None,
                        False) == {"mode": "clinic"}
    assert slot_updates({}, [{"entity": "mode", "value": "root"}], "start", "", None,
                        False) == {}


def test_cleared_health_slots():
    slots = {**slots_from_intake(EXAMPLE), "red_flags": ["pus"], "assessment": {"x": 1},
             "disposition": "urgent_care", "recent_procedures": {"botox": 3}, "mode": "clinic",
             "consent": False}
    cleared = cleared_health_slots(slots)
    assert set(cleared.values()) == {None}
    assert set(cleared) == (set(EXAMPLE["facts"]) | {"age", "skin_type", "red_flags",
                                                      "assessment", "disposition",
                                                      "recent_procedures"})
    assert "consent" not in cleared and "mode" not in cleared


# ----------------------------------------------------------- "I don't know" + the real NLU

@pytest.fixture(scope="module")
def nlp():
    from actions.nlu import spacy_pipeline
    return spacy_pipeline.current()


def updates_from_text(nlp, text, intent, requested, slots=None):
    from actions.nlu.entities import entities_from_doc
    entities = entities_from_doc(nlp(text.lower()))
    return slot_updates(slots or {"consent": True, **PROFILE}, entities, intent, text,
                        requested, in_form=True)


@pytest.mark.parametrize("text, requested", [
    ("I don't know", "q_health"),
    ("not sure", "q_skin_now"),
    ("I don't know if I had accutane", "q_health"),
    ("no idea", "q_history"),
], ids=["dont-know", "not-sure", "dont-know-if", "no-idea"])
def test_dont_know_in_words_marks_unknown(nlp, text, requested):
    assert updates_from_text(nlp, text, "dont_know", requested) == {requested: UNKNOWN}



@pytest.mark.parametrize("text, requested, fact", [
    pytest.param("I don't know about blood thinners", "q_health", "anticoagulant"),
    pytest.param("I'm not sure about accutane", "q_health", "isotretinoin_current"),
    pytest.param("no idea about keloids", "q_history", "keloid_history"),
], ids=["blood-thinners", "accutane", "keloids"])
def test_dont_know_about_an_item_never_sets_it_false(nlp, text, requested, fact):
    out = updates_from_text(nlp, text, "dont_know", requested)
    assert out.get(fact) is not False


def test_unsure_whether_diabetes_is_controlled_stays_unknown(nlp):
    slots = {"consent": True, **PROFILE, "diabetes": True}
    out = updates_from_text(nlp, "not sure it's well controlled", "dont_know",
                            "q_diabetes_control", slots)
    assert out.get("diabetes_controlled") is None


# ================================================================================= render

def variants() -> List[tuple]:
    """(id, intake): one per fact yes / unknown, concern, area, red flag, procedure, skin
    type, and a few others: every rule of the knowledge base fires in at least one."""
    out = [("home", EXAMPLE), ("empty", {})]
    for f in KB.facts:
        if f == "isotretinoin_stopped_months_ago":
            out.append((f, with_facts(isotretinoin_ever=True, **{f: 3})))
        else:
            out.append((f"{f}-yes", with_facts(**{f: True})))
        out.append((f"{f}-unknown", with_facts(**{f: None})))
    for c in KB.concerns:
        out.append((f"concern-{c}", {**copy.deepcopy(EXAMPLE), "concerns": [c]}))
    for a in KB.areas:
        out.append((f"area-{a}", {**copy.deepcopy(EXAMPLE), "areas": [a]}))
    for r in KB.red_flags:
        out.append((f"red-flag-{r}", {**copy.deepcopy(EXAMPLE), "red_flags": [r]}))
    for p in KB.procedures:
        out.append((f"procedure-{p}", {**copy.deepcopy(EXAMPLE), "recent_procedures": {p: 3}}))
    for st in range(1, 7):
        out.append((f"skin-type-{st}", {**with_facts(pih_history=False), "skin_type": st}))
    out.append(("age-15", {**copy.deepcopy(EXAMPLE), "age": 15}))
    out.append(("needle-1.5", {**copy.deepcopy(EXAMPLE), "device": {"needle_mm": 1.5}}))
    out.append(("diabetes-controlled", with_facts(diabetes=True, diabetes_controlled=True)))
    out.append(("cold-sores-forehead-only", {**with_facts(cold_sore_history=True),
                                             "areas": ["forehead"]}))
    out.append(("dark-skin-with-marks", {**with_facts(pih_history=True), "skin_type": 5}))
    return out


VARIANTS = variants()
RAW_IDS = ({i for i in list(KB.facts) + list(KB.concerns) + list(KB.areas) + list(KB.red_flags)
            + list(KB.raw["dispositions"]) + [r.id for r in KB.rules] if "_" in i}
           | set(KB.sources))


def assert_readable(text: str) -> None:
    words = set(re.findall(r"[a-z0-9_\-]+", text))
    assert not (words & RAW_IDS), f"raw ids {words & RAW_IDS} in: {text}"
    assert "{" not in text and "}" not in text, f"placeholder in: {text}"
    assert not re.search(r"\bNone\b(?! of these)", text) and "nan" not in words, text


def test_every_rule_fires_in_some_variant():
    fired = {r["rule"] for _, i in VARIANTS for r in assess(i)["reasons"]}
    assert fired == {r.id for r in KB.rules}


@pytest.mark.parametrize("mode", ["shop", "clinic"])
@pytest.mark.parametrize("intake", [v[1] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_answers_and_explanations_are_readable(intake, mode):
    assessment = assess(intake)
    for m in render.answer_messages(assessment, mode) + render.explain_answer(assessment):
        assert_readable(m["text"])
        for b in m.get("buttons") or []:
            assert_readable(b["title"])


STATES = [("nothing-known", {}), ("profile-known", PROFILE),
          ("half-answered", {**PROFILE, "pregnant": False, "active_acne": False,
                             "vitiligo": False, "topical_rx": False}),
          ("concerns-missing", {"areas": ["cheeks"], "age": 30}),
          ("dark-skin", {**slots_from_intake(EXAMPLE), "skin_type": 5})]


@pytest.mark.parametrize("clarify", [False, True], ids=["ask", "clarify"])
@pytest.mark.parametrize("slots", [s[1] for s in STATES], ids=[s[0] for s in STATES])
@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_questions_are_readable(qid, slots, clarify):
    m = render.question_message(qid, assessment_for(slots), clarify)
    assert_readable(m["text"])
    for b in m["buttons"]:
        assert_readable(b["title"])
        assert b["payload"].startswith("/")


def test_other_messages_are_readable():
    for m in render.consent_messages():
        assert_readable(m["text"])
    assert_readable(render.consent_refused()["text"])
    assert_readable(render.why_question(None)["text"])
    for qid in QUESTIONS:
        assert_readable(render.why_question(qid)["text"])
    for key in KB.raw["faqs"]:
        assert_readable(render.faq_message(key)["text"])
    assert_readable(render.explain_answer(None)[0]["text"])


DISPOSITION_CASES = {
    "emergency": {**copy.deepcopy(EXAMPLE), "red_flags": ["breathing_difficulty"]},
    "urgent_care": {**copy.deepcopy(EXAMPLE), "red_flags": ["new_lumps"]},
    "do_not_treat": with_facts(sunburn=True),
    "professional_consult": with_facts(rosacea=True),
    "home_with_precautions": {**copy.deepcopy(EXAMPLE), "recent_procedures": {"botox": 10}},
    "home_suitable": EXAMPLE,
}


def test_disposition_cases_cover_the_knowledge_base():
    assert set(DISPOSITION_CASES) == set(KB.raw["dispositions"])


@pytest.mark.parametrize("disposition", list(DISPOSITION_CASES))
def test_answer_for_every_disposition(disposition):
    assessment = assess(DISPOSITION_CASES[disposition])
    assert assessment["disposition"] == disposition
    spec = KB.raw["dispositions"][disposition]
    messages = render.answer_messages(assessment, "shop")
    text = "\n".join(m["text"] for m in messages)
    assert messages[0]["text"] == spec["headline"]
    urgent = disposition in ("emergency", "urgent_care")
    home = disposition in KB.home_levels
    assert ("Why:" in text) == (disposition != "home_suitable")
    assert ("Your home plan:" in text) == home
    assert (f"Who to see: {spec['see']}." in text) == (not home and not urgent)
    assert bool(messages[-1]["buttons"]) == (not urgent)
    assert ("mm head" in text) == home
    if disposition == "home_with_precautions":
        assert "Don't start for 4 more days." in text
        assert "Wait until 14 days after your Botox treatment (4 more days, from " in text


def test_headline_reasons_prefer_known_contraindications():
    # pregnant + other facts unknown: the answer names pregnancy, not the unknowns
    intake = {"concerns": ["texture"], "areas": ["cheeks"], "age": 30,
              "facts": {"pregnant": True}}
    text = "\n".join(m["text"] for m in render.answer_messages(assess(intake)))
    assert KB.rules_by_id["pregnant"].message in text
    assert "We don't know yet" not in text


def test_faq_message_unknown_key():
    assert render.faq_message("nope") == {"text": "Sorry, I don't have an answer to that one."}


def test_a_hedge_after_a_no_reopens_the_fact_never_the_reverse():
    hedged = [{"entity": "fact", "value": "pregnant", "uncertain": True, "text": "pregnant"}]
    out = slot_updates({"consent": True, **PROFILE, "pregnant": False}, hedged, "inform",
                       "might be pregnant", None, False)
    assert "pregnant" in out and out["pregnant"] is None
    out = slot_updates({"consent": True, **PROFILE, "pregnant": True}, hedged, "inform",
                       "might be pregnant", None, False)
    assert "pregnant" not in out


def test_an_item_the_person_is_unsure_of_is_not_asked_again():
    """'could have been radiation, no idea' to the history list: that item is unsure (not a
    'Sorry, I didn't understand', not asked again); the rest of the list still is."""
    slots = {**PROFILE, "consent": True}
    entities = [{"entity": "fact", "value": "radiation_therapy_area", "uncertain": True}]
    out = slot_updates(slots, entities, "inform", "could have been radiation, no idea",
                       q_slot("history"), True)
    assert out == {"unsure": ["radiation_therapy_area"]}
    slots.update(out)
    items = question_items("history", assessment_for(slots), slots)
    assert "radiation_therapy_area" not in items and "keloid_history" in items
    assert "radiation_therapy_area" in assessment_for(slots)["to_ask"]  # still unknown


def test_an_area_taken_back_leaves_the_areas():
    slots = {"areas": ["lips"], "concerns": ["general_rejuvenation"]}
    entities = [{"entity": "area", "value": "lips", "negated": True},
                {"entity": "area", "value": "cheeks"}]
    out = slot_updates(slots, entities, "inform", "forget my lips then, just my cheeks", None,
                       False)
    assert out["areas"] == ["cheeks"]


def test_the_recap_says_controlled_diabetes_as_a_statement():
    slots = slots_from_intake(with_facts(diabetes=True, diabetes_controlled=True))
    text = render.recap_message(slots, assessment_for(slots))["text"]
    assert "your diabetes is well controlled" in text and "whether" not in text


def test_control_told_later_applies_to_a_diabetes_told_before():
    """Found on blind set 7: "my last HbA1c was 9 and the nurse wasn't happy with it" after a
    diabetes told earlier (and an A1c is no diabetes of its own: "not really, my last HbA1c
    was 8.9" once denied the diabetes)."""
    slots = {**PROFILE, "diabetes": True, "diabetes_controlled": True}
    entities = [{"entity": "control", "value": "false"}]
    out = slot_updates(slots, entities, "inform", "my last HbA1c was 9 and the nurse wasn't "
                       "happy with it", None, False)
    assert out == {"diabetes_controlled": False}
    assert slot_updates({**PROFILE}, entities, "inform", "the nurse wasn't happy", None,
                        False) == {}
