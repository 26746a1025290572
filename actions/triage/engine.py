"""The triage engine: one intake in, one sourced assessment out (intake-contract.md).

Pure Python, no Rasa: the Rasa actions, the command line, the clinic summary and the tests all
call `assess`.
"""
from __future__ import annotations

import datetime as _dt
import math
from functools import lru_cache
from typing import Any, Dict, List, Optional

from . import kb as _kb
from .intake import Intake, validate


@lru_cache(maxsize=None)
def default_kb() -> _kb.KnowledgeBase:
    """The shipped knowledge base, loaded and validated once per process."""
    return _kb.load()


def _join(labels: List[str], most: int = 4) -> str:
    if len(labels) > most:
        labels = labels[:most - 1] + [f"{len(labels) - most + 1} more health questions"]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _unknown_items(intake: Intake, kb: _kb.KnowledgeBase):
    critical, other = [], []
    for item in kb.ask_order:
        if item.only_if is not None and not item.only_if(intake):
            continue
        if intake.is_known(item.id) or (item.known_if is not None and item.known_if(intake)):
            continue
        (critical if item.critical else other).append(item.id)
    return critical, other


def _interval_for(mm: float, kb: _kb.KnowledgeBase) -> int:
    for max_mm, days in kb.interval_steps:
        if mm <= max_mm + 1e-9:
            return days
    return kb.interval_steps[-1][1]


def assess(raw_intake: Any, kb: Optional[_kb.KnowledgeBase] = None,
           today: Optional[_dt.date] = None) -> Dict[str, Any]:
    """Assess one intake (a contract dict or an `Intake`). Raises IntakeError on bad input."""
    kb = kb or default_kb()
    intake = validate(raw_intake, kb)
    missing, to_ask = _unknown_items(intake, kb)

    fired = []  # (rule, message, extra)
    not_before = 0
    for rule in kb.rules:
        if rule.predicate is None:
            unknown = missing if rule.id == "critical_unknown" else to_ask
            if not unknown:
                continue
            labels = _join([kb.label(u) for u in unknown])
            fired.append((rule, rule.message.format(unknown=labels), {"unknown": list(unknown)},
                          rule.precaution.format(unknown=labels) if rule.precaution else None))
            continue
        if not rule.predicate(intake):
            continue
        extra: Dict[str, Any] = {}
        message = rule.message
        wait = rule.wait_days or 0
        if rule.wait_procedure:
            since = intake.procedures[rule.wait_procedure]
            wait = max(0, math.ceil(rule.wait_total_days - since))
        if wait:
            extra["wait_days"] = wait
            if "{" in message:
                day = (today or _dt.date.today()) + _dt.timedelta(days=wait)
                message = message.format(remaining=wait, date=f"{day.day} {day:%B %Y}")
        not_before = max(not_before, wait)
        fired.append((rule, message, extra, rule.precaution))

    rank = kb.rank
    disposition = "home_suitable"
    for rule, *_ in fired:
        if rank[rule.level] < rank[disposition]:
            disposition = rule.level
    # Most urgent first; rules of one level keep the knowledge base's order.
    fired.sort(key=lambda f: rank[f[0].level])

    reasons = []
    for rule, message, extra, _ in fired:
        reason = {"rule": rule.id, "level": rule.level, "message": message,
                  "sources": list(rule.sources)}
        if rule.until:
            reason["until"] = rule.until
        reason.update(extra)
        reasons.append(reason)

    assessment: Dict[str, Any] = {
        "disposition": disposition,
        "should_stop": any(rule.stop for rule, *_ in fired),
        "reasons": reasons,
        "missing": missing,
        "to_ask": to_ask,
        "rules_version": kb.version,
    }
    if disposition in kb.home_levels:
        assessment["home_plan"] = _home_plan(intake, kb, fired, not_before)
    return assessment


def _home_plan(intake: Intake, kb: _kb.KnowledgeBase, fired, not_before: int) -> Dict[str, Any]:
    cap = kb.home_ceiling_mm
    for rule, *_ in fired:
        if rule.max_needle_mm is not None:
            cap = min(cap, rule.max_needle_mm)
    areas = {}
    for area in intake.areas:
        limit = kb.areas[area].get("max_home_mm")
        if limit is None:  # never at home; a professional rule has fired already
            continue
        mm = min(limit, cap)
        areas[area] = {"max_needle_mm": mm, "min_interval_days": _interval_for(mm, kb)}
    plan = kb.raw["home_plan"]
    # A home-level rule without its own precaution text gives its message as the precaution.
    precautions = [p or (m if r.level == "home_with_precautions" else None)
                   for r, m, _, p in fired]
    precautions = [p for p in precautions if p] + list(plan["precautions"])
    return {
        "areas": areas,
        "not_before_days": not_before,
        "precautions": precautions,
        "aftercare": list(plan["aftercare"]),
        "interval_note": kb.raw["intervals"]["convention_note"],
        "sources": list(dict.fromkeys(list(kb.raw["home_ceiling_sources"])
                                      + list(kb.raw["intervals"]["sources"])
                                      + list(plan["sources"]))),
    }
