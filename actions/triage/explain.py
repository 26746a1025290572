"""A short human-readable summary of an assessment, for clinics and support agents."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import kb as _kb
from .engine import default_kb


def source_names(ids: List[str], kb: _kb.KnowledgeBase) -> str:
    return "; ".join(kb.sources[s]["title"] for s in ids if s in kb.sources)


def explain(assessment: Dict[str, Any], kb: Optional[_kb.KnowledgeBase] = None) -> str:
    kb = kb or default_kb()
    d = assessment["disposition"]
    lines = [f"Disposition: {d} - {kb.raw['dispositions'][d]['headline']}"]
    if assessment.get("should_stop"):
        lines.append("Intake complete: no further answer can make home use suitable.")
    lines.append("")
    lines.append("Reasons (most urgent first):")
    if not assessment["reasons"]:
        lines.append("  - none: nothing in the intake argues against home use.")
    for r in assessment["reasons"]:
        lines.append(f"  - [{r['level']}] {r['rule']}: {r['message']}")
        if r.get("until"):
            lines.append(f"      until: {r['until']}")
        lines.append(f"      sources: {source_names(r['sources'], kb)}")
    plan = assessment.get("home_plan")
    if plan:
        lines += ["", "Home plan:"]
        for area, a in plan["areas"].items():
            lines.append(f"  - {kb.areas[area]['label']}: at most {a['max_needle_mm']:g} mm, "
                         f"at least {a['min_interval_days']} days between sessions")
        if plan["not_before_days"]:
            lines.append(f"  - not before {plan['not_before_days']} days from now")
        lines.append(f"  - {plan['interval_note']}")
        lines.append("  Precautions:")
        lines += [f"    * {p}" for p in plan["precautions"]]
        lines.append("  Aftercare:")
        lines += [f"    * {p}" for p in plan["aftercare"]]
    unknown = list(assessment.get("missing", [])) + list(assessment.get("to_ask", []))
    lines += ["", "Still unknown: " + (", ".join(unknown) if unknown else "nothing")]
    lines.append(f"Rules version: {assessment['rules_version']}")
    return "\n".join(lines)
