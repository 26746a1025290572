"""What an agent or clinician reads about a case, built from the stored records and the
knowledge base (no web framework here): the summary first (disposition, reasons with source
titles, facts present / absent / unknown with the pertinent ones first, consent, channel,
mode), then one transcript merging Rasa's tracker with the staff's replies and notes."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set

from actions.triage.engine import assess, default_kb

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(tzinfo=None)


def iso(value: Optional[dt.datetime]) -> Optional[str]:
    """Stored datetimes are naive UTC; the API speaks ISO 8601 with an explicit Z."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


def iso_from_epoch(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return iso(dt.datetime.fromtimestamp(float(ts), UTC).replace(tzinfo=None))


def waiting_seconds(ticket: Any) -> int:
    end = ticket.resolved_at or now()
    return max(0, int((end - ticket.created_at).total_seconds()))


# --- knowledge-base lookups ------------------------------------------------------------
def _when_facts(cond: Any, out: Set[str]) -> Set[str]:
    """Every fact a rule condition reads (to tell which facts a fired rule rests on)."""
    if isinstance(cond, dict):
        for key in ("fact", "known"):
            if isinstance(cond.get(key), str):
                out.add(cond[key])
        for key in ("all", "any"):
            for part in cond.get(key) or []:
                _when_facts(part, out)
    return out


def _rule_facts() -> Dict[str, Set[str]]:
    kb = default_kb()
    return {r["id"]: _when_facts(r.get("when"), set()) for r in kb.raw.get("rules", [])
            if isinstance(r, dict) and "id" in r}


def sources(ids: Iterable[str]) -> List[Dict[str, str]]:
    kb = default_kb()
    out = []
    for sid in ids or []:
        src = kb.sources.get(sid)
        out.append({"id": sid, "title": src["title"] if src else sid,
                    "kind": src.get("kind", "") if src else ""})
    return out


def reasons(raw_reasons: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The assessment's reasons, most urgent first, each with its sources' titles."""
    kb = default_kb()
    out = []
    for r in raw_reasons or []:
        level = r.get("level")
        out.append({"rule": r.get("rule"), "level": level,
                    "level_headline": kb.raw["dispositions"].get(level, {}).get("headline"),
                    "message": r.get("message"), "until": r.get("until"),
                    "sources": sources(r.get("sources") or [])})
    out.sort(key=lambda r: kb.rank.get(r["level"], len(kb.levels)))
    return out


def facts(intake: Optional[Mapping[str, Any]],
          assessment: Optional[Mapping[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """Facts present / absent / unknown, pertinent ones first in each list:
    present: the facts a fired rule rests on (pertinent positives);
    absent: the critical facts answered "no" (pertinent negatives: contraindications ruled out);
    unknown: the critical facts still missing, then the other questions not yet answered.
    Reported warning signs (red flags) head the present list."""
    kb = default_kb()
    intake = intake or {}
    values = intake.get("facts") or {}
    fired = [r.get("rule") for r in (assessment or {}).get("reasons") or []]
    rule_facts = _rule_facts()
    behind_reasons: Set[str] = set()
    for rid in fired:
        behind_reasons |= rule_facts.get(rid, set())
    critical = [a.id for a in kb.ask_order if a.critical]
    try:
        fresh = assess(dict(intake))
        missing, to_ask = list(fresh.get("missing", [])), list(fresh.get("to_ask", []))
    except Exception:  # noqa: BLE001 (an old or odd intake: list every unanswered fact)
        missing = [f for f in critical if values.get(f) is None]
        to_ask = [f for f in kb.facts if values.get(f) is None and f not in missing]

    def row(f: str, pertinent: bool) -> Dict[str, Any]:
        return {"id": f, "label": kb.facts[f]["label"], "value": values.get(f),
                "pertinent": pertinent}

    present = [f for f in kb.facts if values.get(f) is True
               or (f in kb.number_facts and values.get(f) is not None)]
    present.sort(key=lambda f: f not in behind_reasons)
    absent = [f for f in kb.facts if values.get(f) is False]
    absent.sort(key=lambda f: (f not in critical, critical.index(f) if f in critical else 0))
    unknown = [f for f in missing + to_ask if f in kb.facts and values.get(f) is None]
    # warning signs reported after a treatment are the most pertinent positives of all
    flags = [{"id": f"red_flag:{r}", "label": "warning sign: "
              + kb.red_flags.get(r, {}).get("label", r), "value": True, "pertinent": True}
             for r in intake.get("red_flags") or []]
    return {"present": flags + [row(f, f in behind_reasons) for f in present],
            "absent": [row(f, f in critical) for f in absent],
            "unknown": [row(f, f in missing) for f in unknown]}


def intake_overview(intake: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The non-fact parts of the intake, with the knowledge base's labels."""
    kb = default_kb()
    intake = intake or {}
    device = intake.get("device") or {}
    return {
        "age": intake.get("age"),
        "concerns": [kb.concerns.get(c, {}).get("label", c) for c in intake.get("concerns") or []],
        "areas": [kb.areas.get(a, {}).get("label", a) for a in intake.get("areas") or []],
        "device": {"type": device.get("type"), "needle_mm": device.get("needle_mm")}
        if device else None,
        "skin_type": intake.get("skin_type"),
        "recent_procedures": [{"procedure": kb.procedures.get(p, {}).get("label", p),
                               "days_ago": d}
                              for p, d in (intake.get("recent_procedures") or {}).items()],
        "red_flags": [kb.red_flags.get(r, {}).get("label", r) for r in intake.get("red_flags") or []],
    }


def consent(stored: Any, at_handoff: Any) -> Dict[str, Any]:
    """The latest consent record, else what the handoff snapshot said."""
    if stored is not None:
        return {"given": bool(stored.given), "version": stored.consent_version,
                "at": iso(stored.created_at), "channel": stored.channel}
    if isinstance(at_handoff, dict):
        return {"given": at_handoff.get("given"), "version": at_handoff.get("version"),
                "at": at_handoff.get("at"), "channel": at_handoff.get("channel")}
    return {"given": at_handoff if isinstance(at_handoff, bool) else None,
            "version": None, "at": None, "channel": None}


def _assessment_of(snapshot: Mapping[str, Any], stored: List[Any]) -> Optional[Dict[str, Any]]:
    """The assessment at handoff (a full one, or the parts the handoff summary keeps), else
    the latest stored one."""
    full = snapshot.get("assessment")
    if isinstance(full, dict) and full.get("disposition"):
        return dict(full)
    if snapshot.get("disposition"):
        return {k: snapshot.get(k) for k in ("disposition", "reasons", "missing", "rules_version",
                                             "home_plan", "should_stop") if k in snapshot}
    if stored:
        return dict(stored[-1].assessment)
    return None


def case_summary(snapshot: Optional[Mapping[str, Any]], intake: Optional[Mapping[str, Any]],
                 assessment: Optional[Mapping[str, Any]], consent_record: Any,
                 channel: Optional[str], mode: Optional[str]) -> Dict[str, Any]:
    kb = default_kb()
    snapshot = snapshot or {}
    disposition = (assessment or {}).get("disposition")
    return {
        "disposition": disposition,
        "headline": kb.raw["dispositions"].get(disposition, {}).get("headline")
        if disposition else None,
        "reasons": reasons((assessment or {}).get("reasons") or []),
        "facts": facts(intake, assessment),
        "intake": intake_overview(intake),
        "missing": [{"id": m, "label": kb.label(m)} for m in (assessment or {}).get("missing") or []],
        "home_plan": (assessment or {}).get("home_plan"),
        "consent": consent(consent_record, snapshot.get("consent")),
        "channel": channel,
        "mode": mode,
        "rules_version": (assessment or {}).get("rules_version"),
    }


def reason_text(reason: str) -> str:
    return ((default_kb().raw.get("handoff") or {}).get("reasons") or {}).get(
        reason, reason.replace("_", " "))


def ticket_row(t: Any) -> Dict[str, Any]:
    return {"id": t.id, "conversation_id": t.conversation_id, "reason": t.reason,
            "reason_text": reason_text(t.reason), "urgency": t.urgency,
            "urgency_rank": t.urgency_rank, "status": t.status,
            "waiting_seconds": waiting_seconds(t), "created_at": iso(t.created_at),
            "claimed_by": t.claimed_by, "claimed_at": iso(t.claimed_at),
            "resolved_at": iso(t.resolved_at), "channel": t.channel, "mode": t.mode,
            "clinic_id": t.clinic_id}


def ticket_summary(store: Any, t: Any) -> Dict[str, Any]:
    snapshot = t.summary if isinstance(t.summary, dict) else {}
    stored = store.assessments(t.conversation_id)
    assessment = _assessment_of(snapshot, stored)
    intake = snapshot.get("intake") if isinstance(snapshot.get("intake"), dict) else None
    if intake is None:
        intake = store.intake(t.conversation_id) or (stored[-1].intake if stored else None)
    return case_summary(snapshot, intake, assessment, store.consent(t.conversation_id),
                        t.channel or snapshot.get("channel"), t.mode or snapshot.get("mode"))


def clinic_summary(store: Any, conv: Any) -> Dict[str, Any]:
    """The latest assessment of a clinic-mode conversation, for the clinic's staff."""
    stored = store.assessments(conv.id)
    latest = stored[-1] if stored else None
    assessment = dict(latest.assessment) if latest else None
    intake = store.intake(conv.id) or (latest.intake if latest else None)
    summary = case_summary({}, intake, assessment, store.consent(conv.id), conv.channel,
                           conv.mode)
    return {"conversation_id": conv.id, "clinic_id": conv.clinic_id, "status": conv.status,
            "updated_at": iso(conv.updated_at),
            "assessed_at": iso(latest.created_at) if latest else None, **summary}


def clinic_row(store: Any, conv: Any) -> Dict[str, Any]:
    stored = store.assessments(conv.id)
    latest = stored[-1] if stored else None
    return {"conversation_id": conv.id, "clinic_id": conv.clinic_id, "channel": conv.channel,
            "status": conv.status, "updated_at": iso(conv.updated_at),
            "disposition": latest.disposition if latest else None,
            "assessed_at": iso(latest.created_at) if latest else None}


# --- transcript ---------------------------------------------------------------------------
def _bot_text(event: Mapping[str, Any]) -> Optional[str]:
    text = (event.get("text") or "").strip()
    buttons = ((event.get("data") or {}).get("buttons") or [])
    titles = [str(b.get("title")) for b in buttons if isinstance(b, dict) and b.get("title")]
    if titles:
        text = (text + "\n" if text else "") + "[" + " | ".join(titles) + "]"
    return text or None


def transcript(events: Optional[List[Mapping[str, Any]]], messages: List[Any],
               snapshot: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """One conversation, oldest first: the person's and the assistant's messages from Rasa's
    tracker (or, when Rasa cannot be reached, the transcript kept at handoff), the agents'
    replies (delivered ones are bot events tagged with the agent; a reply Rasa never got is
    shown as not delivered) and internal notes (never sent to the person)."""
    lines: List[Dict[str, Any]] = []
    delivered: Set[int] = set()
    if events is not None:
        for e in events:
            kind = e.get("event")
            if kind == "user":
                text = (e.get("text") or "").strip()
                if text:
                    lines.append({"who": "person", "author": None, "text": text,
                                  "ts": float(e.get("timestamp") or 0)})
            elif kind == "bot":
                text = _bot_text(e)
                meta = e.get("metadata") or {}
                if not text:
                    continue
                if meta.get("agent"):
                    if isinstance(meta.get("staff_message_id"), int):
                        delivered.add(meta["staff_message_id"])
                    lines.append({"who": "agent", "author": str(meta["agent"]), "text": text,
                                  "ts": float(e.get("timestamp") or 0), "delivered": True})
                else:
                    lines.append({"who": "assistant", "author": None, "text": text,
                                  "ts": float(e.get("timestamp") or 0)})
            elif kind in ("pause", "resume"):
                lines.append({"who": "system", "author": None,
                              "text": "Assistant paused: a person took over" if kind == "pause"
                              else "Assistant resumed",
                              "ts": float(e.get("timestamp") or 0)})
    else:
        for item in (snapshot or {}).get("transcript") or []:
            who = item.get("who") if item.get("who") in ("person", "assistant") else "assistant"
            at = item.get("at")
            lines.append({"who": who, "author": None, "text": str(item.get("text") or ""),
                          "ts": float(at) if isinstance(at, (int, float)) else 0.0})
    for m in messages:
        if m.kind == "reply" and m.id in delivered:
            continue
        line = {"who": "agent" if m.kind == "reply" else "note", "author": m.author,
                "text": m.text, "ts": epoch(m.created_at), "staff_message_id": m.id}
        if m.kind == "reply":
            line["delivered"] = False if events is not None else None
        lines.append(line)
    lines.sort(key=lambda x: x["ts"])
    for i, line in enumerate(lines):
        ts = line.pop("ts")
        line["index"] = i
        line["at"] = iso_from_epoch(ts) if ts else None
    return lines
