"""What a support agent or clinician needs to take over a case (no Rasa import): the
structured intake with pertinent positives and negatives first, the assessment with reasons
and sources, the transcript, channel, mode and consent."""
from typing import Any, Dict, List, Mapping, Optional

from actions.dialogue.state import KB
from actions.triage.explain import source_names

EMERGENCY_LEVELS = ("emergency", "urgent_care")


def structured_facts(intake: Mapping[str, Any], assessment: Mapping[str, Any]) -> Dict[str, Any]:
    """Facts present, absent and unknown. Pertinent first: the facts behind a reason that
    fired (positives), then the critical facts answered "no" (negatives), then the rest."""
    facts = intake.get("facts") or {}
    fired = {r["rule"] for r in assessment.get("reasons", [])}
    critical = [a.id for a in KB.ask_order if a.critical]
    present = [f for f in KB.facts if facts.get(f) is True or
               (f in KB.number_facts and facts.get(f) is not None)]
    present.sort(key=lambda f: (f not in fired and not any(f in r for r in fired), f))
    absent = [f for f in KB.facts if facts.get(f) is False]
    absent.sort(key=lambda f: (f not in critical, critical.index(f) if f in critical else 0))
    unknown = [f for f in KB.facts if facts.get(f) is None]

    def show(f):
        return {"id": f, "label": KB.facts[f]["label"], "value": facts.get(f)}

    return {"present": [show(f) for f in present], "absent": [show(f) for f in absent],
            "unknown": [show(f) for f in unknown]}


def transcript(events: List[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for e in events:
        if e.get("event") in ("user", "bot") and (e.get("text") or "").strip():
            out.append({"who": "person" if e["event"] == "user" else "assistant",
                        "text": e["text"], "at": e.get("timestamp")})
    return out


def urgency(assessment: Optional[Mapping[str, Any]]) -> str:
    return (assessment or {}).get("disposition") or "professional_consult"


def summary(reason: str, intake: Mapping[str, Any], assessment: Mapping[str, Any],
            events: List[Mapping[str, Any]], channel: Optional[str], mode: str,
            consent: Optional[bool]) -> Dict[str, Any]:
    reasons = [{**r, "source_names": source_names(r["sources"], KB)}
               for r in assessment.get("reasons", [])]
    return {
        "reason": reason,
        "reason_text": KB.raw["handoff"]["reasons"].get(reason, reason),
        "urgency": urgency(assessment),
        "disposition": assessment.get("disposition"),
        "headline": KB.raw["dispositions"][assessment["disposition"]]["headline"],
        "reasons": reasons,
        "facts": structured_facts(intake, assessment),
        "intake": dict(intake),
        "missing": list(assessment.get("missing", [])),
        "rules_version": assessment.get("rules_version"),
        "transcript": transcript(events),
        "channel": channel,
        "mode": mode,
        "consent": consent,
    }


def next_steps_messages(urgency_level: str) -> List[Dict[str, Any]]:
    h = KB.raw["handoff"]
    text = h["next_steps"].get(urgency_level) or h["next_steps"]["default"]
    return [{"text": f"{text} {h['paused_note']}"}]
