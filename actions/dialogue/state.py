"""Conversation state <-> engine: the intake built from slots, what to ask next, and slot
updates from one message. Pure Python over a plain slot dict (the Rasa actions pass
`tracker.current_slot_values()`), so it is tested without Rasa."""
import hashlib
import re
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from actions.nlu.facts import facts_from_message, plain_answer
from actions.triage.engine import assess, default_kb

KB = default_kb()
QUESTIONS: Dict[str, Mapping[str, Any]] = {q["id"]: q for q in KB.raw["questions"]}
ITEM_QUESTION: Dict[str, str] = {item: q["id"] for q in KB.raw["questions"] for item in q["items"]}
FACTS: Tuple[str, ...] = tuple(KB.facts)
UNKNOWN = "unknown"
MODES = ("shop", "clinic")
ASK_LIMIT: int = KB.raw["dialogue"]["ask_limit"]
CONFIRM = "confirm"  # the recap before a home answer: a question of its own
HOME = ("home_suitable", "home_with_precautions")


def q_slot(qid: str) -> str:
    return f"q_{qid}"


def intake_from_slots(slots: Mapping[str, Any]) -> Dict[str, Any]:
    intake: Dict[str, Any] = {"facts": {f: slots[f] for f in FACTS if slots.get(f) is not None}}
    for key in ("age", "skin_type"):
        if slots.get(key) is not None:
            intake[key] = slots[key]
    for key in ("concerns", "areas", "red_flags"):
        if slots.get(key):
            intake[key] = list(slots[key])
    device = {}
    if slots.get("device_type"):
        device["type"] = slots["device_type"]
    if slots.get("needle_mm") is not None:
        device["needle_mm"] = slots["needle_mm"]
    if device:
        intake["device"] = device
    if slots.get("recent_procedures"):
        intake["recent_procedures"] = dict(slots["recent_procedures"])
    return intake


def assessment_for(slots: Mapping[str, Any]) -> Dict[str, Any]:
    return assess(intake_from_slots(slots))


def question_items(qid: str, assessment: Mapping[str, Any],
                   slots: Optional[Mapping[str, Any]] = None) -> List[str]:
    """The question's items still unknown, in asking order (not those the person already
    said they are unsure of: asking again would get the same answer)."""
    unsure = set((slots or {}).get("unsure") or ())
    return [i for i in list(assessment["missing"]) + list(assessment["to_ask"])
            if ITEM_QUESTION.get(i) == qid and i not in unsure]


def next_question(slots: Mapping[str, Any], assessment: Mapping[str, Any]) -> Optional[str]:
    """The question to ask next, or None when the intake is done (the engine says stop, or
    everything is known or was answered "I don't know"). Before a home answer, the recap
    (CONFIRM) until the person has confirmed what the answer rests on."""
    if slots.get("red_flags") or assessment["should_stop"]:
        return None
    unsure = set(slots.get("unsure") or ())
    for item in list(assessment["missing"]) + list(assessment["to_ask"]):
        qid = ITEM_QUESTION.get(item)
        if qid and slots.get(q_slot(qid)) != UNKNOWN and item not in unsure:
            return qid
    if assessment["disposition"] in HOME and slots.get("confirmed") != intake_fingerprint(slots):
        return CONFIRM
    return None


def intake_fingerprint(slots: Mapping[str, Any]) -> str:
    """Identifies what a home answer rests on: a correction changes it, so the recap is
    shown again."""
    data = json.dumps(intake_from_slots(slots), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def times_asked(slots: Mapping[str, Any], qid: str) -> int:
    return int(((slots.get("asked") or {}).get(qid) or [0])[0])


def _progress_marker(slots: Mapping[str, Any], qid: str, assessment: Mapping[str, Any]) -> Any:
    """What changes when a question is (partly) answered: its items still unknown; for the
    recap, what the answer rests on."""
    if qid in QUESTIONS:
        return len(question_items(qid, assessment, slots))
    if qid == CONFIRM:
        return intake_fingerprint(slots)
    return None


def _progressed(before: Any, now: Any) -> bool:
    if before is None:
        return False
    if isinstance(before, int) and isinstance(now, int):
        return now < before
    return now != before


def count_ask(slots: Mapping[str, Any], qid: str, assessment: Mapping[str, Any]) -> Dict[str, Any]:
    """The `asked` slot after asking qid once more. The count starts again whenever the
    person made progress on that question (fewer of its items left unknown, or a correction
    to the recap)."""
    asked = {k: list(v) for k, v in (slots.get("asked") or {}).items()}
    now = _progress_marker(slots, qid, assessment)
    n, before = (asked.get(qid) or [0, None])[:2]
    n = 1 if _progressed(before, now) else n + 1
    asked[qid] = [n, now]
    return asked


def stalled(slots: Mapping[str, Any], qid: str, assessment: Mapping[str, Any]) -> bool:
    """Asked `ask_limit` times, and the last answer moved nothing: no fourth time."""
    n, before = ((slots.get("asked") or {}).get(qid) or [0, None])[:2]
    return n >= ASK_LIMIT and not _progressed(before, _progress_marker(slots, qid, assessment))


def slot_updates(slots: Mapping[str, Any], entities: List[Mapping[str, Any]],
                 intent: Optional[str], text: str, requested: Optional[str],
                 in_form: bool) -> Dict[str, Any]:
    """Slot values to set after one user message (only the ones that change)."""
    question = requested[2:] if in_form and requested and requested.startswith("q_") \
        and requested[2:] in QUESTIONS else None
    unknown: List[str] = []
    if question:
        unknown = question_items(question, assessment_for(slots), slots)
    rest_false = any(e.get("entity") == "rest_false" for e in entities)
    update = facts_from_message(entities, intent=intent, text=text, question=question,
                                unknown_items=unknown, rest_false=rest_false)
    out: Dict[str, Any] = {}
    for fact, value in update["facts"].items():
        if slots.get(fact) != value:
            out[fact] = value
    if update.get("control") is not None and slots.get("diabetes") is True \
            and "diabetes_controlled" not in update["facts"] \
            and slots.get("diabetes_controlled") != update["control"]:
        # "the nurse wasn't happy with my last HbA1c", after a diabetes told earlier
        out["diabetes_controlled"] = update["control"]
    unsure = list(slots.get("unsure") or [])
    for fact in update["unknown_facts"]:
        # "none of those" earlier, then "I found out I'm pregnant" read as unsure: the "no"
        # no longer stands, the question is asked again (never the other way round)
        if slots.get(fact) is False and fact not in out:
            out[fact] = None
        elif slots.get(fact) is None and fact in unknown and fact not in unsure:
            # "could have been radiation, no idea", said to the list that asks it: unsure,
            # and known to be unsure (the answer rests on it being unknown; not asked again)
            unsure.append(fact)
    if unsure != list(slots.get("unsure") or []):
        out["unsure"] = unsure
    for key in ("concerns", "areas", "red_flags"):
        merged = list(slots.get(key) or [])
        if key == "areas":  # "forget my lips then": taken back, unless named again
            merged = [a for a in merged if a not in update["not_areas"] or a in update["areas"]]
        merged += [v for v in update[key] if v not in merged]
        if merged != list(slots.get(key) or []):
            out[key] = merged
    for key in ("age", "skin_type"):
        if update[key] is not None and update[key] != slots.get(key):
            out[key] = update[key]
    if update["device"].get("type") and update["device"]["type"] != slots.get("device_type"):
        out["device_type"] = update["device"]["type"]
    if update["device"].get("needle_mm") is not None:
        out["needle_mm"] = update["device"]["needle_mm"]
    if update["recent_procedures"]:
        out["recent_procedures"] = {**(slots.get("recent_procedures") or {}),
                                    **update["recent_procedures"]}
    for qid in update["unknown_questions"]:
        out[q_slot(qid)] = UNKNOWN
    if requested == "consent" and in_form or (slots.get("consent") is False and not in_form):
        said = consent_answer(text, intent)
        if said is not None and said != slots.get("consent"):
            out["consent"] = said
    if question and intent == "affirm" and not out and QUESTIONS[question]["kind"] == "checklist":
        out["clarify"] = "which"
    if question and update.get("unclear"):
        out["clarify"] = "unclear"
    if _states_something(out):
        if slots.get("correcting"):
            out["correcting"] = None  # the correction came: recap again
    elif in_form and requested == q_slot(CONFIRM) and slots.get("correcting"):
        # "What should I change?": only the button or a clear "it was right" ends the
        # correction; a "yes, about 6 weeks" that states nothing understood is asked again
        words = " " + " ".join(re.findall(r"[a-z']+", text.lower().replace("’", "'"))) + " "
        if (text.startswith("/") and intent == "affirm") or any(
                f" {p} " in words for p in KB.raw["dialogue"]["recap"]["still_right"]):
            out["confirmed"] = intake_fingerprint(slots)
            out["correcting"] = None
    elif in_form and requested == q_slot(CONFIRM):
        said = plain_answer(text)
        if said == "yes" or (said is None and intent == "affirm"):
            out["confirmed"] = intake_fingerprint(slots)
        elif said == "dont_know" or (said is None and intent == "dont_know"):
            # unsure whether what I understood is right: no home answer on it; a person
            # takes over
            out["stuck"] = CONFIRM
        elif said == "no" or (said is None and intent in ("deny", "dispute")):
            out["correcting"] = True
    for e in entities:
        if e.get("entity") == "mode" and e.get("value") in MODES:
            out["mode"] = e["value"]
    return out


def _states_something(out: Mapping[str, Any]) -> bool:
    return any(k in out for k in FACTS + ("age", "skin_type", "concerns", "areas", "device_type",
                                          "needle_mm", "recent_procedures", "red_flags"))


def consent_answer(text: str, intent: Optional[str]) -> Optional[bool]:
    """Yes or no to the consent question in any words ("sure, go for it", "alright no
    worries", "nah... actually ok fine, go on"); None when it is neither."""
    said = plain_answer(text)
    if said in ("yes", "no"):
        return said == "yes"
    if said is None and intent in ("affirm", "deny"):
        return intent == "affirm"
    return None


def cleared_health_slots(slots: Mapping[str, Any]) -> Dict[str, Any]:
    """Slots to empty when the person refuses consent: no health data is kept."""
    keys = list(FACTS) + ["age", "skin_type", "recent_procedures", "red_flags", "assessment",
                          "disposition", "unsure"]
    return {k: None for k in keys if slots.get(k) is not None}
