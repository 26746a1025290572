"""Property tests: safety guarantees of the triage engine over many generated intakes.

The generated intakes are always valid (they follow intake-contract.md): random subsets of
facts yes / no / unknown, random concerns and areas, ages 0-120, needles 0-3 mm, skin types
1-6 or unknown, recent procedures and, now and then, red flags. Three quarters of them start
from the complete all-"no" intake so that home dispositions come up often.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also when run as plain `pytest`, not `python -m pytest`
    sys.path.insert(0, str(REPO))

from actions.triage import assess, default_kb  # noqa: E402

KB = default_kb()
BASE = json.loads((REPO / "examples" / "home_suitable.json").read_text(encoding="utf-8"))
HOME = set(KB.home_levels)
SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

YES_NO_FACTS = sorted(f for f in KB.facts if f not in KB.number_facts)
HOME_CONCERNS = sorted(c for c, d in KB.concerns.items() if d.get("home"))
HOME_AREAS = sorted(a for a, d in KB.areas.items() if d.get("max_home_mm") is not None)
NOT_AT_HOME_AREAS = sorted(set(KB.areas) - set(HOME_AREAS))
CRITICAL_ITEMS = [a.id for a in KB.ask_order if a.critical]

# Facts that on their own argue against home use: a rule `when: {fact: F}` at do_not_treat or
# professional_consult level. Going from "no" or "unknown" to "yes" can never make things better.
SINGLE_CONTRAINDICATIONS = sorted(
    r["when"]["fact"] for r in KB.raw["rules"]
    if isinstance(r["when"], dict) and set(r["when"]) == {"fact"}
    and r["level"] in ("do_not_treat", "professional_consult"))
# Facts that argue against home use only with something else (diabetes not controlled, cold
# sores near the mouth, dark marks on skin types 4-6). They never make things better either,
# except diabetes from "unknown" to "yes": unknown blocks home use, while known and controlled
# diabetes allows it with precautions, which is right. Diabetes is checked from "no" only.
COMPOUND_CONTRAINDICATIONS = ["diabetes", "cold_sore_history", "pih_history"]
FROM_NO_ONLY = {"diabetes"}


def rank(assessment) -> int:
    return KB.rank[assessment["disposition"]]


# --------------------------------------------------------------------------- strategies

fact_value = st.sampled_from([True, False, None])
days = st.one_of(st.integers(0, 800), st.floats(0, 800, allow_nan=False))


def _unique_list(ids, min_size=0, max_size=3):
    return st.lists(st.sampled_from(ids), min_size=min_size, max_size=max_size, unique=True)


def _sometimes(draw, one_in: int) -> bool:
    # sampled_from, not integers: hypothesis favours boundary integers such as 0
    return draw(st.sampled_from([False] * (one_in - 1) + [True]))


@st.composite
def intakes(draw) -> dict:
    """A random valid intake: close to the complete home intake, a variation of it, or random."""
    mode = draw(st.sampled_from(["home", "home", "variation", "random"]))
    if mode in ("home", "variation"):
        intake = copy.deepcopy(BASE)
        # change a few answers of the complete intake
        intake["facts"].update(draw(st.dictionaries(
            st.sampled_from(YES_NO_FACTS), fact_value, max_size=1 if mode == "home" else 3)))
        intake["skin_type"] = draw(st.one_of(st.integers(1, 6), st.none()))
    if mode == "home":
        intake["age"] = draw(st.integers(18, 120))
        intake["concerns"] = draw(_unique_list(HOME_CONCERNS, 1))
        intake["areas"] = draw(_unique_list(HOME_AREAS, 1, 4))
        needle = draw(st.one_of(st.floats(0, 0.5), st.none()))
        intake["recent_procedures"] = draw(st.one_of(
            st.just({}), st.dictionaries(st.sampled_from(sorted(KB.procedures)), days, max_size=1)))
    elif mode == "variation":
        intake["age"] = draw(st.integers(0, 120))
        intake["concerns"] = draw(_unique_list(sorted(KB.concerns), 0))
        intake["areas"] = draw(_unique_list(sorted(KB.areas), 0, 4))
        needle = draw(st.one_of(st.floats(0, 3), st.none()))
        intake["recent_procedures"] = draw(
            st.dictionaries(st.sampled_from(sorted(KB.procedures)), days, max_size=2))
    else:
        intake = {"facts": draw(st.dictionaries(st.sampled_from(YES_NO_FACTS), fact_value))}
        if draw(st.booleans()):
            intake["age"] = draw(st.one_of(st.integers(0, 120), st.floats(0, 120), st.none()))
        intake["concerns"] = draw(_unique_list(sorted(KB.concerns)))
        intake["areas"] = draw(_unique_list(sorted(KB.areas), 0, 4))
        needle = draw(st.one_of(st.floats(0, 3), st.none()))
        intake["skin_type"] = draw(st.one_of(st.integers(1, 6), st.none()))
        intake["recent_procedures"] = draw(
            st.dictionaries(st.sampled_from(sorted(KB.procedures)), days, max_size=3))
        # some answers missing altogether rather than null
        for fid in draw(st.lists(st.sampled_from(YES_NO_FACTS), max_size=3)):
            intake["facts"].pop(fid, None)
    device_type = draw(st.sampled_from([None, *KB.device_types]))
    intake["device"] = {"type": device_type, "needle_mm": needle}
    # isotretinoin in the past: months since stopping, or unknown
    if _sometimes(draw, 5):
        intake["facts"]["isotretinoin_ever"] = True
        intake["facts"]["isotretinoin_stopped_months_ago"] = draw(
            st.one_of(st.none(), st.floats(0, 60), st.integers(0, 60)))
    # red flags now and then
    intake["red_flags"] = []
    if _sometimes(draw, 12):
        intake["red_flags"] = draw(_unique_list(sorted(KB.red_flags), 1, 2))
    return intake


def with_fact(intake: dict, **facts) -> dict:
    out = copy.deepcopy(intake)
    out.setdefault("facts", {}).update(facts)
    return out


def make_unknown(intake: dict, item: str) -> dict:
    """The intake with one critical item genuinely unknown (not implied by another answer)."""
    out = copy.deepcopy(intake)
    facts = out.setdefault("facts", {})
    if item in ("concerns", "areas"):
        out[item] = []
    elif item == "age":
        out.pop("age", None)
    elif item == "isotretinoin_current":  # "never taken" also answers "taking it now?"
        for f in ("isotretinoin_current", "isotretinoin_ever", "isotretinoin_stopped_months_ago"):
            facts.pop(f, None)
    elif item == "isotretinoin_ever":
        facts.pop("isotretinoin_ever", None)
        facts.pop("isotretinoin_stopped_months_ago", None)
    elif item == "isotretinoin_stopped_months_ago":
        facts["isotretinoin_ever"] = True
        facts["isotretinoin_stopped_months_ago"] = None
    elif item == "diabetes_controlled":
        facts["diabetes"] = True
        facts["diabetes_controlled"] = None
    else:
        facts[item] = None
    return out


# --------------------------------------------------------------------------- properties

def test_contraindication_lists_are_not_empty():
    assert len(SINGLE_CONTRAINDICATIONS) >= 20
    assert "pregnant" in SINGLE_CONTRAINDICATIONS and "anticoagulant" in SINGLE_CONTRAINDICATIONS
    assert set(COMPOUND_CONTRAINDICATIONS) <= set(KB.facts)


@SETTINGS
@given(intakes())
def test_a_contraindication_never_makes_the_disposition_less_urgent(intake):
    before = assess(intake)
    for fact in SINGLE_CONTRAINDICATIONS:
        after = assess(with_fact(intake, **{fact: True}))
        assert rank(after) <= rank(before), (fact, before["disposition"], after["disposition"])
    for fact in COMPOUND_CONTRAINDICATIONS:
        if fact in FROM_NO_ONLY and intake.get("facts", {}).get(fact) is not False:
            continue
        after = assess(with_fact(intake, **{fact: True}))
        assert rank(after) <= rank(before), (fact, before["disposition"], after["disposition"])
    for flag in KB.red_flags:
        changed = copy.deepcopy(intake)
        changed["red_flags"] = sorted(set(changed.get("red_flags", [])) | {flag})
        after = assess(changed)
        assert rank(after) <= rank(before), (flag, before["disposition"], after["disposition"])
        assert after["disposition"] in ("emergency", "urgent_care")


@SETTINGS
@given(intakes(), st.sampled_from(CRITICAL_ITEMS))
def test_an_unknown_critical_item_never_gives_home_use(intake, item):
    a = assess(make_unknown(intake, item))
    assert a["disposition"] not in HOME
    assert "home_plan" not in a
    isotretinoin_now = intake.get("facts", {}).get("isotretinoin_current") is True
    if not (isotretinoin_now and item in ("isotretinoin_ever", "isotretinoin_stopped_months_ago")):
        assert item in a["missing"]


@SETTINGS
@given(intakes())
def test_home_use_only_when_nothing_critical_is_missing(intake):
    a = assess(intake)
    event(a["disposition"])
    if a["missing"]:
        assert a["disposition"] not in HOME
    if a["disposition"] == "home_suitable":
        assert a["to_ask"] == [] and a["reasons"] == []


@SETTINGS
@given(intakes())
def test_home_plan_only_for_home_dispositions_and_within_limits(intake):
    a = assess(intake)
    assert ("home_plan" in a) == (a["disposition"] in HOME)
    if "home_plan" in a:
        plan = a["home_plan"]
        assert set(plan["areas"]) == set(intake["areas"])
        assert set(plan["areas"]).isdisjoint(NOT_AT_HOME_AREAS)
        for area, p in plan["areas"].items():
            assert 0 < p["max_needle_mm"] <= 0.5
            assert p["max_needle_mm"] <= KB.areas[area]["max_home_mm"]
            assert p["min_interval_days"] == (2 if p["max_needle_mm"] <= 0.25 else 7)
        assert plan["not_before_days"] >= 0
        assert plan["aftercare"] and plan["precautions"]


@SETTINGS
@given(intakes())
def test_assess_never_raises_on_valid_input_and_follows_the_contract(intake):
    snapshot = copy.deepcopy(intake)
    a = assess(intake)
    assert intake == snapshot, "assess must not change its input"
    assert a["disposition"] in KB.levels
    assert isinstance(a["should_stop"], bool)
    assert a["rules_version"] == KB.version
    ranks = [KB.rank[r["level"]] for r in a["reasons"]]
    assert ranks == sorted(ranks)
    assert (ranks[0] if ranks else KB.rank["home_suitable"]) == KB.rank[a["disposition"]]
    for r in a["reasons"]:
        assert r["message"] and r["sources"] and "{" not in r["message"]
    assert json.loads(json.dumps(a)) == a, "the assessment is plain JSON"
    if intake.get("red_flags"):
        assert a["should_stop"] is True
