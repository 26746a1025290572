"""Behaviour of the triage engine, in terms a clinician would recognise.

Every test starts from one complete intake where the person answered "no" to everything
(examples/home_suitable.json) and changes one or two things. Expected levels come from the
policy (shared/domain/triage-policy.md), written out here, so that a knowledge-base change that
contradicts the policy fails a test.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also when run as plain `pytest`, not `python -m pytest`
    sys.path.insert(0, str(REPO))

from actions.triage import IntakeError, KnowledgeBaseError, assess, default_kb  # noqa: E402
from actions.triage import kb as kb_module  # noqa: E402

EVIDENCE = REPO.parent / "shared" / "domain" / "evidence.md"
EXAMPLE = REPO / "examples" / "home_suitable.json"
TODAY = dt.date(2026, 3, 1)  # fixed, so wait dates are reproducible

HOME = ("home_with_precautions", "home_suitable")
KB = default_kb()


# --------------------------------------------------------------------------- helpers

def base_intake() -> dict:
    """The complete intake of someone who said no to every health question."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def with_fact(intake: dict | None = None, **facts) -> dict:
    """A copy of the (base) intake with some facts set (None: unknown, "del": removed)."""
    out = copy.deepcopy(intake) if intake is not None else base_intake()
    for fid, value in facts.items():
        if value == "del":
            out["facts"].pop(fid, None)
        else:
            out["facts"][fid] = value
    return out


def changed(change: dict, intake: dict | None = None) -> dict:
    """Apply a change: `facts` are merged, `needle_mm` goes into device, the rest replaces."""
    out = copy.deepcopy(intake) if intake is not None else base_intake()
    for key, value in change.items():
        if key == "facts":
            out = with_fact(out, **value)
        elif key == "needle_mm":
            out["device"]["needle_mm"] = value
        elif key == "recent_procedures":
            out["recent_procedures"].update(value)
        elif value == "del":
            out.pop(key, None)
        else:
            out[key] = value
    return out


def run(intake: dict) -> dict:
    return assess(intake, today=TODAY)


def short(text) -> str:
    """A short test id for a sentence."""
    return "-".join(re.findall(r"[a-z0-9]+", str(text).lower())[:6]) or "empty"


def fired(assessment: dict) -> list:
    return [r["rule"] for r in assessment["reasons"]]


def all_messages(assessment: dict) -> list:
    texts = [r["message"] for r in assessment["reasons"]]
    texts += [r["until"] for r in assessment["reasons"] if r.get("until")]
    plan = assessment.get("home_plan") or {}
    return texts + list(plan.get("precautions", [])) + list(plan.get("aftercare", []))


def isotretinoin_stopped(months) -> dict:
    """Facts of someone who took isotretinoin in the past and stopped `months` ago."""
    return {"isotretinoin_ever": True, "isotretinoin_stopped_months_ago": months}


def test_base_intake_is_home_suitable():
    a = run(base_intake())
    assert a["disposition"] == "home_suitable"
    assert a["reasons"] == [] and a["missing"] == [] and a["to_ask"] == []
    assert a["should_stop"] is False
    assert a["rules_version"] == KB.version


# --------------------------------------------------------------------------- every rule
# rule id -> (level the policy asks for, change that fires it, change that does not)

RULE_TRIGGERS = {
    # red flags (policy 7)
    "red_flag_emergency": ("emergency", {"red_flags": ["face_swelling"]}, {"red_flags": []}),
    "red_flag_infection_or_reaction": ("urgent_care", {"red_flags": ["pus"]}, {"red_flags": []}),
    "red_flag_granuloma": ("urgent_care", {"red_flags": ["new_lumps"]}, {"red_flags": []}),
    # do not treat (policy 2)
    **{f: ("do_not_treat", {"facts": {f: True}}, {"facts": {f: False}}) for f in (
        "pregnant", "breastfeeding", "isotretinoin_current", "bleeding_disorder", "skin_cancer",
        "suspicious_lesion", "active_infection", "cold_sore_active", "open_wound", "sunburn")},
    # professional consult (policy 3)
    "isotretinoin_recent": ("professional_consult", {"facts": isotretinoin_stopped(3)},
                            {"facts": isotretinoin_stopped(7)}),
    **{f: ("professional_consult", {"facts": {f: True}}, {"facts": {f: False}}) for f in (
        "anticoagulant", "keloid_history", "immunosuppressed", "radiation_therapy_area",
        "active_acne", "eczema", "psoriasis", "rosacea", "vitiligo", "autoimmune_skin",
        "metal_allergy", "topical_rx")},
    "diabetes_not_controlled": ("professional_consult",
                                {"facts": {"diabetes": True, "diabetes_controlled": False}},
                                {"facts": {"diabetes": False, "diabetes_controlled": False}}),
    "cold_sore_history_near_mouth": (
        "professional_consult",
        {"facts": {"cold_sore_history": True}, "areas": ["chin_jaw"]},
        {"facts": {"cold_sore_history": False}, "areas": ["chin_jaw"]}),
    "under_18": ("professional_consult", {"age": 16}, {"age": 40}),
    "dark_skin_with_pih": ("professional_consult",
                           {"skin_type": 5, "facts": {"pih_history": True}},
                           {"skin_type": 3, "facts": {"pih_history": True}}),
    "concern_melasma": ("professional_consult", {"concerns": ["melasma"]},
                        {"concerns": ["texture"]}),
    "concern_needs_depth": ("professional_consult", {"concerns": ["acne_scars"]},
                            {"concerns": ["fine_lines_wrinkles"]}),
    "concern_hair_loss": ("professional_consult", {"concerns": ["hair_loss"], "areas": ["scalp"]},
                          {"concerns": ["general_rejuvenation"], "areas": ["scalp"]}),
    "concern_tattoo": ("professional_consult", {"concerns": ["tattoo"], "areas": ["body"]},
                       {"concerns": ["texture"], "areas": ["body"]}),
    "area_not_at_home": ("professional_consult", {"areas": ["eyelids"]}, {"areas": ["forehead"]}),
    "needle_above_home_limit": ("professional_consult", {"needle_mm": 1.5}, {"needle_mm": 0.25}),
    "recent_surgery": ("professional_consult", {"recent_procedures": {"surgery": 90}},
                       {"recent_procedures": {"surgery": 400}}),
    # home with precautions (policy 4)
    "cold_sore_history_away_from_mouth": (
        "home_with_precautions",
        {"facts": {"cold_sore_history": True}, "areas": ["forehead"]},
        {"facts": {"cold_sore_history": False}, "areas": ["forehead"]}),
    "diabetes_controlled": ("home_with_precautions",
                            {"facts": {"diabetes": True, "diabetes_controlled": True}},
                            {"facts": {"diabetes": False, "diabetes_controlled": True}}),
    "dark_skin_no_pih": ("home_with_precautions",
                         {"skin_type": 4, "facts": {"pih_history": False}},
                         {"skin_type": 3, "facts": {"pih_history": False}}),
    "topical_retinoid_otc": ("home_with_precautions", {"facts": {"topical_retinoid_otc": True}},
                             {"facts": {"topical_retinoid_otc": False}}),
    "recent_botox": ("home_with_precautions", {"recent_procedures": {"botox": 5}},
                     {"recent_procedures": {"botox": 30}}),
    "recent_filler": ("home_with_precautions", {"recent_procedures": {"filler": 5}},
                      {"recent_procedures": {"filler": 30}}),
    "recent_peel": ("home_with_precautions", {"recent_procedures": {"peel": 5}},
                    {"recent_procedures": {"peel": 30}}),
    "recent_laser": ("home_with_precautions", {"recent_procedures": {"laser": 5}},
                     {"recent_procedures": {"laser": 30}}),
    "area_under_eye": ("home_with_precautions", {"areas": ["under_eye"]}, {"areas": ["nose"]}),
}


def test_every_kb_rule_has_a_trigger_in_this_table():
    """A new rule in the knowledge base without a behaviour test here fails this test."""
    kb_rules = {r.id for r in KB.rules if r.predicate is not None}
    assert set(RULE_TRIGGERS) == kb_rules, (
        f"untested rules: {sorted(kb_rules - set(RULE_TRIGGERS))}; "
        f"stale table entries: {sorted(set(RULE_TRIGGERS) - kb_rules)}")


def test_engine_rules_are_the_two_unknown_rules():
    assert {r.id for r in KB.rules if r.predicate is None} == {"critical_unknown", "other_unknown"}


@pytest.mark.parametrize("rule_id", sorted(RULE_TRIGGERS))
def test_rule_level_matches_policy(rule_id):
    assert KB.rules_by_id[rule_id].level == RULE_TRIGGERS[rule_id][0]


@pytest.mark.parametrize("rule_id", sorted(RULE_TRIGGERS))
def test_rule_fires_when_its_situation_is_present(rule_id):
    level, on, _ = RULE_TRIGGERS[rule_id]
    a = run(changed(on))
    assert rule_id in fired(a)
    reason = next(r for r in a["reasons"] if r["rule"] == rule_id)
    assert reason["level"] == level
    assert reason["sources"], "every reason cites at least one source"
    # it is the most urgent rule that fired, so it sets the disposition
    assert a["disposition"] == level
    assert a["missing"] == []


@pytest.mark.parametrize("rule_id", sorted(RULE_TRIGGERS))
def test_rule_does_not_fire_when_its_situation_is_absent(rule_id):
    _, _, off = RULE_TRIGGERS[rule_id]
    a = run(changed(off))
    assert rule_id not in fired(a)
    assert a["disposition"] == "home_suitable", fired(a)


# --------------------------------------------------------------------------- boundaries

BOUNDARIES = [
    # (id, change, expected disposition, rule expected to fire or None)
    ("isotretinoin-stopped-5.9-months", {"facts": isotretinoin_stopped(5.9)},
     "professional_consult", "isotretinoin_recent"),
    ("isotretinoin-stopped-6-months", {"facts": isotretinoin_stopped(6)}, "home_suitable", None),
    ("age-17", {"age": 17}, "professional_consult", "under_18"),
    ("age-18", {"age": 18}, "home_suitable", None),
    ("botox-13-days", {"recent_procedures": {"botox": 13}},
     "home_with_precautions", "recent_botox"),
    ("botox-14-days", {"recent_procedures": {"botox": 14}}, "home_suitable", None),
    ("needle-0.5", {"needle_mm": 0.5}, "home_suitable", None),
    ("needle-0.51", {"needle_mm": 0.51}, "professional_consult", "needle_above_home_limit"),
    ("filler-27-days", {"recent_procedures": {"filler": 27}},
     "home_with_precautions", "recent_filler"),
    ("filler-28-days", {"recent_procedures": {"filler": 28}}, "home_suitable", None),
    ("peel-13-days", {"recent_procedures": {"peel": 13}}, "home_with_precautions", "recent_peel"),
    ("peel-14-days", {"recent_procedures": {"peel": 14}}, "home_suitable", None),
    ("laser-13-days", {"recent_procedures": {"laser": 13}},
     "home_with_precautions", "recent_laser"),
    ("laser-14-days", {"recent_procedures": {"laser": 14}}, "home_suitable", None),
    ("surgery-364-days", {"recent_procedures": {"surgery": 364}},
     "professional_consult", "recent_surgery"),
    ("surgery-365-days", {"recent_procedures": {"surgery": 365}}, "home_suitable", None),
    ("skin-type-3", {"skin_type": 3, "facts": {"pih_history": True}}, "home_suitable", None),
    ("skin-type-4-with-pih", {"skin_type": 4, "facts": {"pih_history": True}},
     "professional_consult", "dark_skin_with_pih"),
]


@pytest.mark.parametrize("change, disposition, rule", [b[1:] for b in BOUNDARIES],
                         ids=[b[0] for b in BOUNDARIES])
def test_boundary(change, disposition, rule):
    a = run(changed(change))
    assert a["disposition"] == disposition
    if rule is None:
        assert a["reasons"] == []
    else:
        assert rule in fired(a)


@pytest.mark.parametrize("procedure, days, total", [
    ("botox", 13, 14), ("botox", 0, 14), ("filler", 27, 28), ("filler", 10, 28),
    ("peel", 13, 14), ("laser", 13, 14), ("laser", 12.5, 14),
])
def test_recent_procedure_wait_is_the_remaining_days(procedure, days, total):
    a = run(changed({"recent_procedures": {procedure: days}}))
    remaining = math.ceil(total - days)
    assert a["disposition"] == "home_with_precautions"
    assert a["home_plan"]["not_before_days"] == remaining
    reason = next(r for r in a["reasons"] if r["rule"] == f"recent_{procedure}")
    assert reason["wait_days"] == remaining
    assert f"{remaining} more days" in reason["message"]
    first_day = TODAY + dt.timedelta(days=remaining)
    assert f"{first_day.day} {first_day:%B %Y}" in reason["message"]


def test_botox_13_days_ago_waits_one_more_day():
    a = run(changed({"recent_procedures": {"botox": 13}}))
    assert a["disposition"] == "home_with_precautions"
    assert a["home_plan"]["not_before_days"] == 1


def test_botox_14_days_ago_is_home_suitable_without_wait():
    a = run(changed({"recent_procedures": {"botox": 14}}))
    assert a["disposition"] == "home_suitable"
    assert a["home_plan"]["not_before_days"] == 0


def test_the_longest_wait_wins():
    a = run(changed({"recent_procedures": {"botox": 10, "filler": 8}}))
    assert a["home_plan"]["not_before_days"] == 20


def test_controlled_diabetes_is_home_with_precautions_at_025_mm():
    a = run(with_fact(diabetes=True, diabetes_controlled=True))
    assert a["disposition"] == "home_with_precautions"
    assert fired(a) == ["diabetes_controlled"]
    assert a["home_plan"]["areas"] == {
        "forehead": {"max_needle_mm": 0.25, "min_interval_days": 2},
        "cheeks": {"max_needle_mm": 0.25, "min_interval_days": 2},
    }


def test_uncontrolled_diabetes_needs_a_professional():
    a = run(with_fact(diabetes=True, diabetes_controlled=False))
    assert a["disposition"] == "professional_consult"
    assert "diabetes_not_controlled" in fired(a)
    assert "home_plan" not in a


@pytest.mark.parametrize("controlled", [None, "del"], ids=["null", "absent"])
def test_diabetes_with_unknown_control_needs_a_professional_and_asks(controlled):
    a = run(with_fact(diabetes=True, diabetes_controlled=controlled))
    assert a["disposition"] == "professional_consult"
    assert "diabetes_not_controlled" in fired(a)
    assert "diabetes_controlled" in a["missing"]
    assert a["should_stop"] is False, "one more answer can still make home use suitable"


def test_diabetes_control_is_not_asked_without_diabetes():
    a = run(with_fact(diabetes=False, diabetes_controlled=None))
    assert "diabetes_controlled" not in a["missing"] + a["to_ask"]
    assert a["disposition"] == "home_suitable"


def test_isotretinoin_never_taken_is_complete():
    a = run(with_fact(isotretinoin_current=False, isotretinoin_ever=False,
                      isotretinoin_stopped_months_ago=None))
    assert a["disposition"] == "home_suitable"


def test_isotretinoin_taken_in_the_past_asks_when_it_was_stopped():
    a = run(with_fact(isotretinoin_ever=True))
    assert a["disposition"] == "professional_consult"
    assert a["missing"] == ["isotretinoin_stopped_months_ago"]


def test_isotretinoin_current_until_says_six_months():
    a = run(with_fact(isotretinoin_current=True))
    reason = next(r for r in a["reasons"] if r["rule"] == "isotretinoin_current")
    assert "6 months" in reason["until"]


@pytest.mark.parametrize("area", ["lips", "chin_jaw", "cheeks"])
def test_cold_sore_history_near_the_mouth_needs_a_professional(area):
    a = run(changed({"facts": {"cold_sore_history": True}, "areas": [area]}))
    assert a["disposition"] == "professional_consult"
    assert "cold_sore_history_near_mouth" in fired(a)
    assert "cold_sore_history_away_from_mouth" not in fired(a)


@pytest.mark.parametrize("area", ["forehead", "nose", "neck", "body", "scalp", "hands"])
def test_cold_sore_history_away_from_the_mouth_is_a_precaution(area):
    a = run(changed({"facts": {"cold_sore_history": True}, "areas": [area]}))
    assert a["disposition"] == "home_with_precautions"
    assert fired(a) == ["cold_sore_history_away_from_mouth"]
    assert any("lips" in p for p in a["home_plan"]["precautions"])


# --------------------------------------------------------------------------- precedence

PRECEDENCE = [
    ("pregnant-and-pus", {"facts": {"pregnant": True}, "red_flags": ["pus"]},
     "urgent_care", ["red_flag_infection_or_reaction", "pregnant"]),
    ("face-swelling", {"red_flags": ["face_swelling"]}, "emergency", ["red_flag_emergency"]),
    ("breathing-and-pus", {"red_flags": ["pus", "breathing_difficulty"]},
     "emergency", ["red_flag_emergency", "red_flag_infection_or_reaction"]),
    ("pregnant-and-anticoagulant", {"facts": {"pregnant": True, "anticoagulant": True}},
     "do_not_treat", ["pregnant", "anticoagulant"]),
    ("sunburn-and-botox", {"facts": {"sunburn": True}, "recent_procedures": {"botox": 3}},
     "do_not_treat", ["sunburn", "recent_botox"]),
    ("eczema-and-retinol", {"facts": {"eczema": True, "topical_retinoid_otc": True}},
     "professional_consult", ["eczema", "topical_retinoid_otc"]),
    ("acne-scars-and-under-eye", {"concerns": ["acne_scars"], "areas": ["under_eye"]},
     "professional_consult", ["concern_needs_depth", "area_under_eye"]),
    ("everything-at-once", {"red_flags": ["hives", "face_swelling"],
                            "facts": {"breastfeeding": True, "keloid_history": True,
                                      "topical_retinoid_otc": True},
                            "recent_procedures": {"laser": 2}},
     "emergency", ["red_flag_emergency", "red_flag_infection_or_reaction", "breastfeeding",
                   "keloid_history", "topical_retinoid_otc", "recent_laser"]),
]


@pytest.mark.parametrize("change, disposition, rules", [p[1:] for p in PRECEDENCE],
                         ids=[p[0] for p in PRECEDENCE])
def test_most_urgent_wins_and_every_reason_is_listed(change, disposition, rules):
    a = run(changed(change))
    assert a["disposition"] == disposition
    assert sorted(fired(a)) == sorted(rules)
    ranks = [KB.rank[r["level"]] for r in a["reasons"]]
    assert ranks == sorted(ranks), "reasons are ordered most urgent first"
    assert a["reasons"][0]["level"] == disposition
    assert "home_plan" not in a or disposition in HOME


@pytest.mark.parametrize("flag", sorted(KB.red_flags))
def test_every_red_flag_stops_the_intake_and_sends_to_a_doctor(flag):
    a = run(changed({"red_flags": [flag]}))
    expected = "emergency" if flag in ("breathing_difficulty", "face_swelling") else "urgent_care"
    assert a["disposition"] == expected
    assert a["should_stop"] is True
    assert "home_plan" not in a


@pytest.mark.parametrize("flag", ["pus", "face_swelling", "new_lumps"])
def test_red_flags_win_even_in_an_empty_early_intake(flag):
    a = run({"red_flags": [flag]})
    assert a["disposition"] in ("emergency", "urgent_care")
    assert a["missing"], "the health questions are still unanswered"


# --------------------------------------------------------------------------- unknowns

# Policy section 5, written out: the items that must be known before any home disposition.
POLICY_CRITICAL = {
    "age", "concerns", "areas", "pregnant", "breastfeeding", "isotretinoin_current",
    "isotretinoin_stopped_months_ago", "anticoagulant", "bleeding_disorder", "active_infection",
    "cold_sore_active", "open_wound", "sunburn", "skin_cancer", "suspicious_lesion",
    "keloid_history", "active_acne", "eczema", "psoriasis", "rosacea", "diabetes",
    "immunosuppressed",
}
# Asked as part of the critical ones above ("or never taken"; "controlled false or unknown").
CRITICAL_HELPERS = {"isotretinoin_ever", "diabetes_controlled"}
CRITICAL_ITEMS = [a.id for a in KB.ask_order if a.critical]
NON_CRITICAL_ITEMS = [a.id for a in KB.ask_order if not a.critical]

# How to make an ask-order item genuinely unknown on the complete intake, when removing it
# alone is not enough (a fact implied by another answer, or one asked only in some cases).
MAKE_UNKNOWN = {
    "concerns": {"concerns": []},
    "areas": {"areas": "del"},
    "age": {"age": "del"},
    "skin_type": {"skin_type": "del"},
    # "never taken" also answers "taking it now?": forget both
    "isotretinoin_current": {"facts": {"isotretinoin_current": "del", "isotretinoin_ever": "del"}},
    "isotretinoin_stopped_months_ago": {"facts": {"isotretinoin_ever": True,
                                                  "isotretinoin_stopped_months_ago": "del"}},
    "diabetes_controlled": {"facts": {"diabetes": True, "diabetes_controlled": "del"}},
    # asked only for skin types 4-6
    "pih_history": {"skin_type": 5, "facts": {"pih_history": "del"}},
}


def make_unknown(item: str, how: str = "del") -> dict:
    change = MAKE_UNKNOWN.get(item, {"facts": {item: how}})
    return changed(change)


def test_critical_items_are_those_of_the_policy():
    assert set(CRITICAL_ITEMS) == POLICY_CRITICAL | CRITICAL_HELPERS
    assert set(NON_CRITICAL_ITEMS) == {
        "radiation_therapy_area", "vitiligo", "autoimmune_skin", "metal_allergy",
        "cold_sore_history", "pih_history", "topical_rx", "topical_retinoid_otc",
        "recent_procedures_asked", "skin_type"}


@pytest.mark.parametrize("how", ["del", None], ids=["absent", "null"])
@pytest.mark.parametrize("item", CRITICAL_ITEMS)
def test_unknown_critical_item_never_gives_home_use(item, how):
    a = run(make_unknown(item, how))
    assert a["disposition"] not in HOME
    assert a["disposition"] == "professional_consult"
    assert item in a["missing"]
    assert "home_plan" not in a
    assert a["should_stop"] is False, "answering the question can still lead to home use"
    reason = next(r for r in a["reasons"] if r["rule"] == "critical_unknown")
    assert item in reason["unknown"]


@pytest.mark.parametrize("item", NON_CRITICAL_ITEMS)
def test_unknown_non_critical_item_gives_precautions_never_home_suitable(item):
    a = run(make_unknown(item))
    assert a["disposition"] == "home_with_precautions"
    assert item in a["to_ask"]
    assert a["missing"] == []
    reason = next(r for r in a["reasons"] if r["rule"] == "other_unknown")
    assert item in reason["unknown"]
    assert any("check with a professional" in p for p in a["home_plan"]["precautions"])


def test_missing_follows_the_asking_order():
    a = run({"facts": {"diabetes": True}})
    order = [i.id for i in KB.ask_order]
    assert a["missing"] == sorted(a["missing"], key=order.index)
    assert a["missing"][:3] == ["concerns", "areas", "age"]
    assert "diabetes_controlled" in a["missing"] and "diabetes" not in a["missing"]
    assert a["disposition"] == "professional_consult"


def test_empty_intake_asks_everything_critical_and_is_not_home():
    a = run({})
    assert a["disposition"] == "professional_consult"
    assert a["missing"] == [i for i in CRITICAL_ITEMS if i != "diabetes_controlled"
                            and i != "isotretinoin_stopped_months_ago"]
    assert fired(a) == ["critical_unknown", "other_unknown"]


def test_unknown_is_never_treated_as_no():
    a = run(with_fact(pregnant=None))
    assert a["disposition"] == "professional_consult"
    assert a["missing"] == ["pregnant"]


# --------------------------------------------------------------------------- home plan

# Policy section 6, written out.
AREA_MM = {"forehead": 0.5, "cheeks": 0.5, "chin_jaw": 0.5, "body": 0.5, "scalp": 0.5,
           "nose": 0.25, "under_eye": 0.25, "neck": 0.25, "decollete": 0.25, "hands": 0.25}
NOT_AT_HOME = ("eyelids", "lips")


def test_area_table_covers_every_area():
    assert set(AREA_MM) | set(NOT_AT_HOME) == set(KB.areas)


@pytest.mark.parametrize("area", sorted(AREA_MM))
def test_home_plan_depth_and_interval_per_area(area):
    a = run(changed({"areas": [area]}))
    assert a["disposition"] in HOME
    mm = AREA_MM[area]
    assert a["home_plan"]["areas"] == {
        area: {"max_needle_mm": mm, "min_interval_days": 2 if mm <= 0.25 else 7}}


def test_all_home_areas_together_stay_within_their_limits():
    a = run(changed({"areas": sorted(AREA_MM)}))
    plan = a["home_plan"]["areas"]
    assert set(plan) == set(AREA_MM)
    for area, p in plan.items():
        assert p["max_needle_mm"] <= 0.5
        assert p["max_needle_mm"] == AREA_MM[area]


@pytest.mark.parametrize("area", NOT_AT_HOME)
@pytest.mark.parametrize("others", [[], ["forehead"], ["nose", "cheeks"]],
                         ids=["alone", "with-forehead", "with-two"])
def test_eyelids_and_lips_are_never_home(area, others):
    a = run(changed({"areas": others + [area]}))
    assert a["disposition"] == "professional_consult"
    assert "area_not_at_home" in fired(a)
    assert "home_plan" not in a


@pytest.mark.parametrize("needle", [0.0, 0.1, 0.25, 0.5, 0.51, 1.0, 2.5, 3.0])
def test_home_plan_never_above_half_a_millimetre(needle):
    a = run(changed({"needle_mm": needle, "areas": sorted(AREA_MM)}))
    if needle > 0.5:
        assert a["disposition"] == "professional_consult"
        assert "home_plan" not in a
    else:
        assert all(p["max_needle_mm"] <= 0.5 for p in a["home_plan"]["areas"].values())


@pytest.mark.parametrize("change", [
    {"facts": {"diabetes": True, "diabetes_controlled": True}},
    {"skin_type": 6, "facts": {"pih_history": False}},
    {"facts": {"vitiligo": None}},
], ids=["controlled-diabetes", "dark-skin", "unknown-other-fact"])
def test_rules_that_cap_depth_lower_every_area_to_025(change):
    a = run(changed(dict(change, areas=["forehead", "body", "neck"])))
    assert a["disposition"] == "home_with_precautions"
    assert {p["max_needle_mm"] for p in a["home_plan"]["areas"].values()} == {0.25}
    assert {p["min_interval_days"] for p in a["home_plan"]["areas"].values()} == {2}


def test_home_plan_has_the_policy_contents():
    plan = run(base_intake())["home_plan"]
    text = " ".join(plan["precautions"] + plan["aftercare"]).lower()
    for must in ("sterile", "numbing", "hyaluronic", "spf 30", "warning sign"):
        assert must in text
    assert "convention" in plan["interval_note"]
    assert plan["sources"]


def test_precaution_rules_put_their_precaution_in_the_plan():
    a = run(changed({"areas": ["under_eye"], "facts": {"topical_retinoid_otc": True}}))
    precautions = a["home_plan"]["precautions"]
    assert any("eyelid" in p for p in precautions)
    assert any("5 days" in p for p in precautions)
    assert a["home_plan"]["not_before_days"] == 5


@pytest.mark.parametrize("level, change", [
    ("emergency", {"red_flags": ["face_swelling"]}),
    ("urgent_care", {"red_flags": ["fever"]}),
    ("do_not_treat", {"facts": {"open_wound": True}}),
    ("professional_consult", {"facts": {"rosacea": True}}),
], ids=["emergency", "urgent-care", "do-not-treat", "professional-consult"])
def test_no_home_plan_outside_home_dispositions(level, change):
    a = run(changed(change))
    assert a["disposition"] == level
    assert "home_plan" not in a


# --------------------------------------------------------------------------- wording

# Telling someone to stop, pause or change a medicine, in one sentence. "After you stop
# isotretinoin" (a condition, not an instruction) and "stop all treatments" are allowed.
MEDICINE_INSTRUCTION = re.compile(
    r"(?<!after you )(?<!since you )(?<!when you )"
    r"\b(stop|stopping|quit|discontinue|pause|change|switch|skip|come off|cut down)\b"
    r"[^.]*\b(medicines?|medications?|aspirin|warfarin|blood[- ]thinners?|anticoagulants?|"
    r"isotretinoin|accutane|antivirals?|tablets?|pills?)\b",
    re.IGNORECASE)


@pytest.mark.parametrize("text", [
    "Stop taking your aspirin.",
    "stop taking your aspirin before you start",
    "Please pause your blood thinner for a week.",
    "You should quit isotretinoin first.",
    "Change your medication before needling.",
    "Discontinue warfarin 5 days before.",
    "Switch to another medicine.",
    "Skip your Accutane tablets that day.",
], ids=short)
def test_medicine_regex_catches_instructions(text):
    assert MEDICINE_INSTRUCTION.search(text)


@pytest.mark.parametrize("text", [
    "What you describe can be an infection: stop all treatments and see a doctor today.",
    "Keep taking your medicine as prescribed and let a professional decide.",
    "You stopped isotretinoin less than 6 months ago.",
    "6 months after you stop isotretinoin, and then a dermatologist should check your skin",
    "Stop and seek care at once. Your doctor decides about your medicine.",
    "Pause retinol, acids and vitamin C for 5 days before and after each session.",
], ids=short)
def test_medicine_regex_allows_safe_wording(text):
    assert not MEDICINE_INSTRUCTION.search(text)


def _kb_texts():
    raw = KB.raw
    texts = []
    for r in raw["rules"]:
        for key in ("message", "until", "precaution"):
            if r.get(key):
                texts.append((f"{r['id']}.{key}", r[key]))
    for level, d in raw["dispositions"].items():
        texts.append((f"disposition {level}", d["headline"]))
    for key in ("precautions", "aftercare"):
        texts += [(f"home_plan.{key}[{i}]", t) for i, t in enumerate(raw["home_plan"][key])]
    texts.append(("intervals.convention_note", raw["intervals"]["convention_note"]))
    return texts


KB_TEXTS = _kb_texts()
# Assessed messages, with their templates filled in.
SAMPLE_CHANGES = [c for _, c, _ in RULE_TRIGGERS.values()] + [
    {"facts": {"vitiligo": None, "topical_rx": None, "metal_allergy": None}},
    {"facts": {f: None for f in POLICY_CRITICAL if f in KB.facts}},
]
ASSESSED_TEXTS = sorted({t for c in SAMPLE_CHANGES for t in all_messages(run(changed(c)))})


@pytest.mark.parametrize("where, text", KB_TEXTS, ids=[w for w, _ in KB_TEXTS])
def test_kb_text_never_tells_to_stop_or_change_a_medicine(where, text):
    assert not MEDICINE_INSTRUCTION.search(text), f"{where}: {text}"


@pytest.mark.parametrize("text", ASSESSED_TEXTS, ids=short)
def test_assessed_text_never_tells_to_stop_or_change_a_medicine(text):
    assert not MEDICINE_INSTRUCTION.search(text)


FDA_CLAIM = re.compile(r"\bFDA[- ]?(approved|cleared|authori[sz]ed)|approved by the FDA", re.I)


@pytest.mark.parametrize("text", [t for _, t in KB_TEXTS] + ASSESSED_TEXTS, ids=short)
def test_no_text_calls_anything_fda_approved(text):
    assert not FDA_CLAIM.search(text)
    assert "medical treatment" not in text.lower()


def sentences(text: str) -> list:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", text.strip()) if s]


def test_sentence_counter():
    assert len(sentences("One. Two.")) == 2
    assert len(sentences("One; still one: yes.")) == 1
    assert len(sentences("A (112 / 911 / 999) b.")) == 1


@pytest.mark.parametrize("where, text", [(w, t) for w, t in KB_TEXTS if w.endswith(".message")],
                         ids=[w for w, _ in KB_TEXTS if w.endswith(".message")])
def test_every_rule_message_is_one_or_two_sentences(where, text):
    assert 1 <= len(sentences(text)) <= 2, text
    assert text.rstrip().endswith((".", "!", "?")), text


@pytest.mark.parametrize("text", sorted({r["message"] for c in SAMPLE_CHANGES
                                         for r in run(changed(c))["reasons"]}), ids=short)
def test_every_assessed_message_is_one_or_two_sentences(text):
    assert "{" not in text and "}" not in text, "template left unfilled"
    assert 1 <= len(sentences(text)) <= 2, text


# --------------------------------------------------------------------------- sources

def _evidence_table() -> dict:
    if not EVIDENCE.exists():
        pytest.skip(f"{EVIDENCE} not found (shared domain folder beside the repo)")
    rows = {}
    row = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|")
    for line in EVIDENCE.read_text(encoding="utf-8").splitlines():
        m = row.match(line)
        if m:
            rows[m.group(1)] = {"kind": m.group(2), "title": m.group(3)}
    assert len(rows) >= 20, "evidence.md table not parsed"
    return rows


def _cited_sources() -> list:
    raw = KB.raw
    cited = [(f"rule {r['id']}", s) for r in raw["rules"] for s in r["sources"]]
    cited += [("intervals", s) for s in raw["intervals"]["sources"]]
    cited += [("home_plan", s) for s in raw["home_plan"]["sources"]]
    cited += [("home_ceiling_sources", s) for s in raw["home_ceiling_sources"]]
    return cited


def test_every_cited_source_is_in_evidence_md():
    evidence = _evidence_table()
    unknown = [(where, s) for where, s in _cited_sources() if s not in evidence]
    assert not unknown


def test_kb_sources_match_evidence_md():
    evidence = _evidence_table()
    assert set(KB.sources) == set(evidence)
    for sid, s in KB.sources.items():
        assert s["title"] == evidence[sid]["title"], sid
        assert s["kind"] == evidence[sid]["kind"], sid


def test_every_rule_cites_a_source():
    for r in KB.rules:
        assert r.sources, r.id


def test_interval_convention_cites_the_industry_sources():
    kinds = {KB.sources[s]["kind"] for s in KB.raw["intervals"]["sources"]}
    assert kinds == {"industry"}


# --------------------------------------------------------------------------- validation

INVALID = [
    ("unknown-fact", with_fact(smoker=True), "smoker"),
    ("pregnant-yes", with_fact(pregnant="yes"), "pregnant"),
    ("pregnant-1", with_fact(pregnant=1), "pregnant"),
    ("age-true", changed({"age": True}), "age"),
    ("age-string", changed({"age": "34"}), "age"),
    ("age-minus-1", changed({"age": -1}), "age"),
    ("age-121", changed({"age": 121}), "age"),
    ("age-nan", changed({"age": float("nan")}), "age"),
    ("age-inf", changed({"age": float("inf")}), "age"),
    ("age-huge-int", changed({"age": 10 ** 400}), "age"),
    ("skin-type-huge-int", changed({"skin_type": -(10 ** 400)}), "skin_type"),
    ("needle-minus-0.1", changed({"needle_mm": -0.1}), "needle_mm"),
    ("needle-3.1", changed({"needle_mm": 3.1}), "needle_mm"),
    ("needle-nan", changed({"needle_mm": float("nan")}), "needle_mm"),
    ("needle-string", changed({"needle_mm": "0.5"}), "needle_mm"),
    ("unknown-area", changed({"areas": ["forehead", "belly"]}), "belly"),
    ("areas-not-a-list", changed({"areas": "forehead"}), "areas"),
    ("unknown-concern", changed({"concerns": ["wrinkles"]}), "wrinkles"),
    ("unknown-red-flag", changed({"red_flags": ["itching"]}), "itching"),
    ("unknown-procedure", changed({"recent_procedures": {"microblading": 3}}), "microblading"),
    ("procedure-days-negative", changed({"recent_procedures": {"botox": -1}}), "botox"),
    ("unknown-device-type", changed({"device": {"type": "laser", "needle_mm": 0.5}}), "laser"),
    ("unknown-device-field", changed({"device": {"type": "pen", "depth": 0.5}}), "depth"),
    ("skin-type-7", changed({"skin_type": 7}), "skin_type"),
    ("skin-type-2.5", changed({"skin_type": 2.5}), "skin_type"),
    ("isotretinoin-months-negative", with_fact(isotretinoin_stopped_months_ago=-2), "isotretinoin"),
    ("isotretinoin-months-true", with_fact(isotretinoin_stopped_months_ago=True), "isotretinoin"),
    ("unknown-top-level-field", changed({"name": "Ann"}), "name"),
    ("facts-not-an-object", dict(base_intake(), facts="none"), "facts"),
    ("intake-list", [], "object"),
    ("intake-string", "home_suitable", "object"),
    ("intake-none", None, "object"),
    ("intake-number", 34, "object"),
]


@pytest.mark.parametrize("intake, mentions", [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_intake_raises_a_clear_intake_error(intake, mentions):
    with pytest.raises(IntakeError) as err:
        assess(intake)
    message = str(err.value)
    assert mentions.lower() in message.lower()
    assert "\n" not in message


@pytest.mark.parametrize("change", [
    {"age": 0}, {"age": 120}, {"age": 34.5}, {"needle_mm": 0}, {"needle_mm": 3},
    {"skin_type": 1}, {"skin_type": 6}, {"skin_type": None}, {"device": {}},
    {"recent_procedures": {"botox": 0}}, {"facts": {"isotretinoin_stopped_months_ago": 0}},
], ids=lambda c: json.dumps(c))
def test_edge_values_are_valid(change):
    assert run(changed(change))["disposition"] in KB.levels


def test_assess_does_not_change_its_input():
    intake = changed({"facts": {"isotretinoin_ever": "del", "isotretinoin_current": True}})
    before = copy.deepcopy(intake)
    run(intake)
    assert intake == before


# --------------------------------------------------------------------------- broken KB

def broken(mutate) -> dict:
    raw = copy.deepcopy(default_kb().raw)
    mutate(raw)
    return raw


def rule(raw: dict, rule_id: str) -> dict:
    return next(r for r in raw["rules"] if r["id"] == rule_id)


BROKEN = [
    ("unknown-source", "anticoagulant",
     lambda raw: rule(raw, "anticoagulant")["sources"].append("made-up-2025")),
    ("no-sources", "eczema", lambda raw: rule(raw, "eczema").update(sources=[])),
    ("unknown-fact-in-when", "pregnant",
     lambda raw: rule(raw, "pregnant").update(when={"fact": "pregnnat"})),
    ("unknown-fact-nested", "diabetes_not_controlled",
     lambda raw: rule(raw, "diabetes_not_controlled")["when"]["all"][1].update(fact="diabetes_ok")),
    ("unknown-area-in-when", "area_not_at_home",
     lambda raw: rule(raw, "area_not_at_home").update(when={"area_any": ["eyebrows"]})),
    ("bad-level", "rosacea", lambda raw: rule(raw, "rosacea").update(level="maybe")),
    ("missing-message", "vitiligo", lambda raw: rule(raw, "vitiligo").pop("message")),
    ("empty-message", "sunburn", lambda raw: rule(raw, "sunburn").update(message="")),
    ("missing-when", "topical_rx", lambda raw: rule(raw, "topical_rx").pop("when")),
    ("comparison-on-a-yes-no-fact", "keloid_history",
     lambda raw: rule(raw, "keloid_history").update(when={"fact": "keloid_history", "lt": 3})),
    ("home-rule-that-stops", "recent_botox",
     lambda raw: rule(raw, "recent_botox").update(stop=True)),
    ("duplicate-id", "eczema", lambda raw: raw["rules"].append(copy.deepcopy(rule(raw, "eczema")))),
    ("unknown-key", "psoriasis", lambda raw: rule(raw, "psoriasis").update(severity="high")),
    ("engine-rule-missing", "critical_unknown",
     lambda raw: raw["rules"].remove(rule(raw, "critical_unknown"))),
]


@pytest.mark.parametrize("rule_id, mutate", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_rule_fails_loudly_naming_the_rule(rule_id, mutate):
    with pytest.raises(KnowledgeBaseError) as err:
        kb_module.build(broken(mutate))
    assert rule_id in str(err.value)


@pytest.mark.parametrize("mutate, mentions", [
    (lambda raw: raw.update(home_ceiling_mm=1.0), "home_ceiling_mm"),
    (lambda raw: raw["intervals"]["sources"].append("nope"), "intervals"),
    (lambda raw: raw["ask_order"].append({"id": "smoker", "critical": False}), "smoker"),
    (lambda raw: raw["ask_order"].append({"id": "pregnant", "critical": True}), "ask_order"),
    (lambda raw: raw["sources"]["chu-2021"].pop("title"), "chu-2021"),
    (lambda raw: raw.pop("dispositions"), "dispositions"),
], ids=["ceiling-above-0.5", "interval-source", "ask-unknown-fact", "critical-after-others",
        "source-without-title", "no-dispositions"])
def test_broken_kb_section_fails_loudly(mutate, mentions):
    with pytest.raises(KnowledgeBaseError) as err:
        kb_module.build(broken(mutate))
    assert mentions in str(err.value)


def test_unbroken_copy_builds_and_assesses_the_same():
    rebuilt = kb_module.build(copy.deepcopy(default_kb().raw))
    intake = changed({"facts": {"anticoagulant": True}, "recent_procedures": {"botox": 3}})
    assert assess(intake, kb=rebuilt, today=TODAY) == run(intake)


def test_unreadable_kb_file_fails_loudly(tmp_path):
    bad = tmp_path / "kb.yml"
    bad.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError):
        kb_module.load(bad)
    with pytest.raises(KnowledgeBaseError):
        kb_module.load(tmp_path / "absent.yml")
