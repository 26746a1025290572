"""From what the NLU found in one message to facts in the contract's vocabulary.

Pure Python (no Rasa): the conversation's slot extraction and `python -m actions.nlu extract`
both call `facts_from_message`, so what support staff see is what the assistant understood.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional

from actions.triage.engine import default_kb

DAYS_PER_MONTH = 30.4375
ANSWER_INTENTS = {"inform", "affirm", "deny", "dont_know"}
# Messages that ask or chat state nothing about the person ("which depth for my nose?").
NON_STATEMENT_PREFIXES = ("faq_",)
NON_STATEMENT_INTENTS = {"ask_why", "out_of_scope", "bot_challenge"}


def empty_update() -> Dict[str, Any]:
    return {"facts": {}, "concerns": [], "areas": [], "device": {}, "age": None,
            "skin_type": None, "recent_procedures": {}, "red_flags": [],
            "unknown_questions": []}


def _set(update: Dict[str, Any], fact: str, value: Any) -> None:
    # Within one message a "yes" is never undone by a later "no" ("I'm on warfarin but I
    # stopped aspirin"): the cautious reading.
    if update["facts"].get(fact) is True and value is False:
        return
    update["facts"][fact] = value


def _entity_facts(entities: Iterable[Mapping[str, Any]], update: Dict[str, Any], kb) -> None:
    lex = kb.raw["lexicon"]
    current_state = set(lex["current_state_facts"])
    recent_days = lex["recent_days"]
    control: Optional[bool] = None
    for e in entities:
        kind, value = e.get("entity"), e.get("value")
        negated, past = bool(e.get("negated")), bool(e.get("past"))
        ago = e.get("ago_days")
        if e.get("hypothetical") or (e.get("uncertain") and kind != "red_flag"):
            continue  # "what if I'm pregnant?", "not sure about accutane" state nothing
        if kind == "fact" and value in kb.facts:
            if value == "isotretinoin_current":
                _isotretinoin(update, negated, past, ago, e.get("negation_cue"))
            elif negated:
                _set(update, value, False)
            elif past and value in recent_days:
                _set(update, value, not (ago is not None and ago >= recent_days[value]))
            elif past and value in current_state:
                _set(update, value, False)
            else:
                _set(update, value, True)
        elif kind == "control":
            control = (str(value) == "true") != negated
        elif kind == "concern" and value in kb.concerns and not negated:
            _add(update["concerns"], [value])
        elif kind == "area" and not negated:
            _add(update["areas"], [a for a in str(value).split("+") if a in kb.areas])
        elif kind == "device" and value in kb.device_types and not negated:
            update["device"]["type"] = value
        elif kind == "needle_mm":
            update["device"]["needle_mm"] = float(value)
        elif kind == "age":
            update["age"] = float(value) if float(value) != int(float(value)) else int(float(value))
        elif kind == "skin_type" and not negated:
            try:
                update["skin_type"] = int(value)
            except (TypeError, ValueError):
                pass
        elif kind == "procedure" and value in kb.procedures and not negated:
            # No date given: count it as today, the cautious reading (the wait is longest).
            update["recent_procedures"][value] = round(ago, 1) if ago is not None else 0
        elif kind == "red_flag" and value in kb.red_flags and not negated:
            _add(update["red_flags"], [value])
    if control is not None:
        _set(update, "diabetes_controlled", control)
        if update["facts"].get("diabetes") is None and control is not None:
            update["facts"].setdefault("diabetes", True)


def _isotretinoin(update, negated: bool, past: bool, ago, cue: Optional[str]) -> None:
    if negated:
        _set(update, "isotretinoin_current", False)
        if cue == "never":
            _set(update, "isotretinoin_ever", False)
        return
    if past:
        _set(update, "isotretinoin_current", False)
        _set(update, "isotretinoin_ever", True)
        if ago is not None:
            _set(update, "isotretinoin_stopped_months_ago", round(ago / DAYS_PER_MONTH, 1))
        return
    _set(update, "isotretinoin_current", True)


def _add(target: List[str], values: Iterable[str]) -> None:
    for v in values:
        if v not in target:
            target.append(v)


def _question(kb, qid: Optional[str]) -> Optional[Mapping[str, Any]]:
    for q in kb.raw["questions"]:
        if q["id"] == qid:
            return q
    return None


def facts_from_message(entities: List[Mapping[str, Any]], intent: Optional[str] = None,
                       text: str = "", question: Optional[str] = None,
                       unknown_items: Iterable[str] = (), rest_false: bool = False,
                       kb=None) -> Dict[str, Any]:
    """Facts stated by one message.

    entities: the NLU's entities (the spaCy pipeline's, or a button payload's).
    intent: the message's intent; question: the id of the question being asked (if any)
    and unknown_items its items still unknown, so that "no", "none of these", "yes" and
    "I don't know" are read as answers to it.
    """
    kb = kb or default_kb()
    update = empty_update()
    q = _question(kb, question)
    if q is not None and _answers(q, entities):
        intent = "inform"  # "fair skin" to the skin-type question is an answer, whatever DIET guessed
    if intent in NON_STATEMENT_INTENTS or intent == "dont_know" \
            or (intent or "").startswith(NON_STATEMENT_PREFIXES):
        # Safety first: a warning sign counts even inside a question ("is pus normal?").
        _entity_facts([e for e in entities if e.get("entity") == "red_flag"], update, kb)
        if intent != "dont_know":
            return update
        # "I don't know the others, but I'm on warfarin": keep what is stated as true, never
        # read the "don't know" as a "no".
        _entity_facts([e for e in entities if not e.get("negated")
                       and e.get("entity") not in ("control", "red_flag")], update, kb)
    else:
        _entity_facts(entities, update, kb)
    if q is None or intent not in ANSWER_INTENTS:
        return update
    items = [i for i in q["items"] if i in set(unknown_items) or not unknown_items]
    stated = set(update["facts"]) | {k for k in ("age", "skin_type") if update[k] is not None}
    kind = q["kind"]
    bare = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*", text or "")
    bare_number = float(bare.group(1).replace(",", ".")) if bare else None
    if intent == "dont_know" and not stated:
        update["unknown_questions"].append(q["id"])
    elif kind in ("checklist", "yes_no") and (intent == "deny" or (rest_false and intent == "inform")):
        if kind == "yes_no" and intent == "inform":
            return update
        for item in items:
            if item not in stated and item in kb.facts:
                # "None of these" to the procedures item means: asked, and none.
                _set(update, item, item == "recent_procedures_asked")
    elif kind == "yes_no" and intent == "affirm" and not stated:
        for item in items:
            _set(update, item, True)
    elif q["id"] == "isotretinoin_when":
        if bare_number is not None and "isotretinoin_stopped_months_ago" not in stated:
            _set(update, "isotretinoin_stopped_months_ago", bare_number)
        dur = [e for e in entities if e.get("entity") == "duration"]
        if dur and "isotretinoin_stopped_months_ago" not in stated:
            _set(update, "isotretinoin_stopped_months_ago",
                 round(float(dur[0]["value"]) / DAYS_PER_MONTH, 1))
    elif q["id"] == "profile" and update["age"] is None and "age" in items:
        age = bare_number if bare_number is not None else _lone_number(text, entities)
        if age is not None and 10 <= age <= 120:
            update["age"] = int(age) if age == int(age) else age
    elif q["id"] == "skin_type" and bare_number is not None and update["skin_type"] is None:
        update["skin_type"] = int(bare_number)
    if q["id"] == "products_procedures" and (update["recent_procedures"] or intent == "deny"):
        _set(update, "recent_procedures_asked", True)
    return update


def _answers(q: Mapping[str, Any], entities: Iterable[Mapping[str, Any]]) -> bool:
    """Does the message name something the question asks about?"""
    items = set(q["items"])
    for e in entities:
        if e.get("hypothetical") or e.get("uncertain"):
            continue
        kind, value = e.get("entity"), e.get("value")
        if (kind == "fact" and value in items) or (kind in ("skin_type", "age") and kind in items) \
                or (kind == "concern" and "concerns" in items) or (kind == "area" and "areas" in items):
            return True
    return False


def _lone_number(text: str, entities: Iterable[Mapping[str, Any]]) -> Optional[float]:
    """The one number in a message that no entity explains ("wrinkles on my forehead, 40")."""
    spans = [(e.get("start", 0), e.get("end", 0)) for e in entities]
    found = [m for m in re.finditer(r"(?<![\w.])(\d{1,3})(?![\w.])", text or "")
             if not any(s <= m.start() < e for s, e in spans)]
    return float(found[0].group(1)) if len(found) == 1 else None


def to_contract(update: Mapping[str, Any]) -> Dict[str, Any]:
    """The part of an update worth showing: only what the message stated."""
    out: Dict[str, Any] = {"facts": dict(update["facts"])}
    for key in ("concerns", "areas", "red_flags"):
        out[key] = list(update[key])
    out["device"] = dict(update["device"])
    out["age"] = update["age"]
    out["skin_type"] = update["skin_type"]
    out["recent_procedures"] = dict(update["recent_procedures"])
    return out
