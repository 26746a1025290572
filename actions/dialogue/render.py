"""What the assistant says: questions, the triage answer, explanations and FAQ answers,
all built from the knowledge base (no Rasa import). Each message is a dict the Rasa actions
pass to `dispatcher.utter_message(**message)`: {"text": ..., "buttons": [...]}"""
import json
from typing import Any, Dict, List, Mapping, Optional

from actions.dialogue.state import (CONFIRM, FACTS, KB, QUESTIONS, intake_from_slots,
                                    question_items)
from actions.triage.explain import source_names

Message = Dict[str, Any]


def _button(title: str, intent: str, entities: Optional[Mapping[str, Any]] = None) -> Dict[str, str]:
    payload = f"/{intent}" + (json.dumps(entities, separators=(",", ":")) if entities else "")
    return {"title": title, "payload": payload}


def _label(item: str) -> str:
    text = KB.raw["buttons"].get(item) or KB.label(item)
    return text[:1].upper() + text[1:]


def _join(words: List[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


DIALOGUE = KB.raw["dialogue"]


def consent_messages(attempt: int = 1) -> List[Message]:
    c = KB.raw["consent"]
    buttons = [_button("Yes, that's OK", "affirm"), _button("No", "deny")]
    if attempt > 1:
        return [{"text": DIALOGUE["consent_again"], "buttons": buttons}]
    return [{"text": c["intro"]}, {"text": c["question"], "buttons": buttons}]


def question_message(qid: str, assessment: Mapping[str, Any], clarify: Any = False,
                     attempt: int = 1, slots: Optional[Mapping[str, Any]] = None) -> Message:
    """The question, worded for the attempt: as written the first time, in plainer words
    the second, and the third time with a one-line hint, the buttons and a person."""
    if qid == CONFIRM:
        return recap_message(slots or {}, assessment)
    q = QUESTIONS[qid]
    items = question_items(qid, assessment, slots) or list(q["items"])
    partial = len(items) < len(q["items"])
    buttons: List[Dict[str, str]] = []
    text = q["text"] if attempt < 2 else q.get("plain", q["text"])
    dont_know = _button(KB.raw["buttons"]["dont_know"], "dont_know")
    if q["kind"] == "checklist":
        if clarify == "unclear":
            text = DIALOGUE["unclear"]
        elif clarify:
            text = DIALOGUE["which"]
        elif partial:
            text = DIALOGUE["anything_else"] + text
        buttons = [_button(_label(i), "inform", {"fact": i}) for i in items
                   if i != "recent_procedures_asked"]
        buttons += [_button(KB.raw["buttons"]["none"], "deny"), dont_know]
    elif q["kind"] == "yes_no":
        buttons = [_button("Yes", "affirm"), _button("No", "deny"), dont_know]
    elif q["kind"] == "choice":
        buttons = [_button(f"{t}", "inform", {"skin_type": str(n)})
                   for n, t in KB.raw["skin_type_choices"].items()] + [dont_know]
    elif q["kind"] == "open" and partial:
        text = DIALOGUE["also_tell"].format(items=_join([KB.label(i) for i in items]))
        if items == ["concerns"]:
            buttons = [_button(c["label"][:1].upper() + c["label"][1:], "inform", {"concern": cid})
                       for cid, c in KB.concerns.items()]
    else:
        buttons = [dont_know]
    if attempt >= 3:
        text = f"{text}\n{DIALOGUE['last_try']}"
        if q["kind"] == "open" and "concerns" in items and not buttons[:-1]:
            buttons = [_button(c["label"][:1].upper() + c["label"][1:], "inform", {"concern": cid})
                       for cid, c in KB.concerns.items()] + [dont_know]
        buttons = buttons + [_button(KB.raw["buttons"]["person"], "request_human")]
    return {"text": text, "buttons": buttons}


def recap_message(slots: Mapping[str, Any], assessment: Mapping[str, Any]) -> Message:
    """What a home answer would rest on, in plain words, with "That's right" and
    "Something's wrong"; after "Something's wrong", an invitation to correct in words."""
    r = DIALOGUE["recap"]
    buttons = [_button(r["right"], "affirm"), _button(r["wrong"], "deny")]
    if slots.get("correcting"):
        return {"text": r["correcting"], "buttons": [_button(r["right"], "affirm")]}
    intake = intake_from_slots(slots)
    lines = [r["intro"]]
    concerns = [KB.concerns[c]["label"] for c in intake.get("concerns", []) if c in KB.concerns]
    areas = [KB.areas[a]["label"] for a in intake.get("areas", []) if a in KB.areas]
    age = r["age"].format(age=_num(intake["age"])) if intake.get("age") is not None else ""
    if concerns or areas:
        lines.append(r["goals"].format(concerns=_join(concerns or ["your skin"]),
                                       areas=_join(areas or ["skin"]), age=age))
    device = intake.get("device") or {}
    if device:
        what = " ".join(x for x in (f"{_num(device['needle_mm'])} mm" if device.get("needle_mm")
                                    is not None else "", device.get("type") or "") if x)
        lines.append(r["device"].format(device=what))
    facts = intake.get("facts", {})
    applies = [KB.facts[f].get("applies") or KB.label(f) for f in FACTS if facts.get(f) is True
               and f not in ("recent_procedures_asked", "isotretinoin_ever")]
    applies += [f"{KB.procedures[p]['label']} ({_num(d)} days ago)"
                for p, d in (intake.get("recent_procedures") or {}).items() if p in KB.procedures]
    if intake.get("skin_type") is not None:
        applies.append(KB.raw["skin_type_choices"][intake["skin_type"]].lower())
    if applies:
        lines.append(r["applies"].format(items=_join(applies)))
    unknown = [KB.label(i) for i in list(assessment.get("to_ask") or [])
               if i in KB.facts and i != "recent_procedures_asked"]
    if unknown:
        lines.append(r["not_known"].format(items=_join(unknown)))
    critical = [i for i in KB.raw["ask_order"] if i.get("critical")]
    denied = [KB.label(i["id"]) for i in critical if facts.get(i["id"]) is False
              and i["id"] in KB.facts and i["id"] != "isotretinoin_ever"]
    if denied:
        lines.append(r["none_of"].format(items=_join(denied)))
    lines.append(r["question"])
    return {"text": "\n".join(lines), "buttons": buttons}


def _num(v: Any) -> str:
    return f"{float(v):g}"


def why_question(qid: Optional[str]) -> Message:
    if qid == CONFIRM:
        return {"text": KB.raw["consent"]["why_recap"]}
    if qid == "consent" or qid is None:
        return {"text": "Some health conditions, medicines and skin problems make home "
                        "microneedling unsafe, so I can only give a safe answer if I can ask "
                        "about them. Your answers are used only for this assessment."}
    return {"text": QUESTIONS[qid]["why"]}


def _sources(ids: List[str]) -> str:
    return source_names(ids, KB)


def answer_messages(assessment: Mapping[str, Any], mode: str = "shop") -> List[Message]:
    d = assessment["disposition"]
    disp = KB.raw["dispositions"][d]
    messages: List[Message] = [{"text": disp["headline"]}]
    reasons = _headline_reasons(assessment)
    if reasons:
        lines = ["Why:"]
        for r in reasons:
            until = f" Not until {r['until']}." if r.get("until") else ""
            lines.append(f"• {r['message']}{until} (Sources: {_sources(r['sources'])})")
        messages.append({"text": "\n".join(lines)})
    plan = assessment.get("home_plan")
    if plan:
        lines = ["Your home plan:"]
        for area, a in plan["areas"].items():
            lines.append(f"• {KB.areas[area]['label'].capitalize()}: at most {a['max_needle_mm']:g} mm, "
                         f"at least {a['min_interval_days']} days between sessions")
        if plan["not_before_days"]:
            lines.append(f"• Don't start for {plan['not_before_days']} more days.")
        lines.append(f"({plan['interval_note']})")
        lines.append("Precautions:")
        lines += [f"• {p}" for p in plan["precautions"]]
        lines.append("Aftercare:")
        lines += [f"• {p}" for p in plan["aftercare"]]
        lines.append(f"(Sources: {_sources(plan['sources'])})")
        messages.append({"text": "\n".join(lines)})
    elif d not in ("emergency", "urgent_care"):
        messages.append({"text": f"Who to see: {disp['see']}."})
    close = _close(assessment, mode)
    if close:
        messages.append({"text": close})
    messages[-1]["buttons"] = [_button("Why?", "ask_why"),
                               _button("Aftercare tips", "faq_aftercare")] \
        if d not in ("emergency", "urgent_care") else []
    return messages


def _headline_reasons(assessment: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """The reasons worth showing with the answer ("why?" shows them all): those behind the
    disposition; for a professional or do-not-treat answer the other contraindications too,
    and "we don't know yet" only when nothing else explains it."""
    d = assessment["disposition"]
    if d in ("emergency", "urgent_care"):
        levels = {"emergency", "urgent_care"}
    elif d in ("do_not_treat", "professional_consult"):
        levels = {"do_not_treat", "professional_consult"}
    else:
        levels = {"home_with_precautions"}
    shown = [r for r in assessment["reasons"] if r["level"] in levels]
    known = [r for r in shown if not r.get("unknown")]
    return known or shown


def _close(assessment: Mapping[str, Any], mode: str) -> Optional[str]:
    d = assessment["disposition"]
    modes = KB.raw["modes"]
    if d in ("emergency", "urgent_care"):
        return None  # nothing may distract from getting care now
    if mode == "clinic":
        return modes["clinic"]["close"]
    plan = assessment.get("home_plan")
    if plan and plan["areas"]:
        mm = min(a["max_needle_mm"] for a in plan["areas"].values())
        return modes["shop"]["home_close"].format(mm=f"{mm:g}")
    if d == "professional_consult":
        return modes["shop"]["professional_close"]
    return None


def explain_answer(assessment: Optional[Mapping[str, Any]]) -> List[Message]:
    if not assessment:
        return [{"text": "I haven't given you an answer yet. Say hi or tell me about your skin "
                         "and I'll start the check."}]
    lines = [f"My answer was: {KB.raw['dispositions'][assessment['disposition']]['headline']}"]
    if not assessment["reasons"]:
        lines.append("Nothing you told me argues against home use, and you answered every "
                     "question I need.")
    for r in assessment["reasons"]:
        lines.append(f"• {r['message']} (Sources: {_sources(r['sources'])})")
    lines.append("You can correct any answer, e.g. \"actually I stopped Accutane a year ago\", "
                 "and I'll assess again.")
    return [{"text": "\n".join(lines)}]


def faq_message(key: str) -> Message:
    faq = KB.raw["faqs"].get(key)
    if faq is None:
        return {"text": "Sorry, I don't have an answer to that one."}
    return {"text": f"{faq['answer']} (Sources: {_sources(faq['sources'])})"}


def consent_refused() -> Message:
    return {"text": KB.raw["consent"]["refused"]}
