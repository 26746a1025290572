"""Intake validation: the contract's JSON in, a normalised `Intake` out, or a clear error."""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Tuple

from .kb import KnowledgeBase

TOP_LEVEL = ("age", "concerns", "areas", "device", "skin_type", "facts", "recent_procedures",
             "red_flags")


class IntakeError(ValueError):
    """The intake does not follow the contract; the message says what and where, in one line."""


class Intake:
    """A validated intake. Unknown facts are None, never False."""

    __slots__ = ("age", "skin_type", "needle_mm", "device_type", "concerns", "areas", "facts",
                 "procedures", "red_flags")

    def __init__(self, age, skin_type, needle_mm, device_type, concerns, areas, facts,
                 procedures, red_flags):
        self.age: Optional[float] = age
        self.skin_type: Optional[int] = skin_type
        self.needle_mm: Optional[float] = needle_mm
        self.device_type: Optional[str] = device_type
        self.concerns: Tuple[str, ...] = concerns
        self.areas: Tuple[str, ...] = areas
        self.facts: Dict[str, Any] = facts
        self.procedures: Dict[str, float] = procedures
        self.red_flags: Tuple[str, ...] = red_flags

    def is_known(self, item: str) -> bool:
        if item in ("concerns", "areas"):
            return bool(getattr(self, item))
        if item in ("age", "skin_type"):
            return getattr(self, item) is not None
        return self.facts.get(item) is not None


def _number(value: Any, where: str, lo: float, hi: float, integer: bool = False):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IntakeError(f"{where} must be a number, got {type(value).__name__} {value!r}"[:200])
    # (ints are never NaN; a huge JSON int would overflow math.isnan and the :g format)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise IntakeError(f"{where} must be a finite number")
    if integer and value != int(value):
        raise IntakeError(f"{where} must be a whole number, got {value}")
    if not lo <= value <= hi:
        got = f"{value:g}" if abs(value) < 1e15 else "a number far out of range"
        raise IntakeError(f"{where} must be between {lo:g} and {hi:g}, got {got}")
    return int(value) if integer else value


def _id_list(value: Any, known: Mapping[str, Any], where: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise IntakeError(f"{where} must be a list of ids")
    out = []
    for v in value:
        if not isinstance(v, str) or v not in known:
            raise IntakeError(f"unknown {where[:-1] if where.endswith('s') else where} "
                              f"{str(v)[:60]!r} (known: {', '.join(known)})")
        if v not in out:
            out.append(v)
    return tuple(out)


def validate(raw: Any, kb: KnowledgeBase) -> Intake:
    if isinstance(raw, Intake):
        return raw
    if not isinstance(raw, dict):
        raise IntakeError("the intake must be a JSON object")
    extra = [k for k in raw if k not in TOP_LEVEL]
    if extra:
        raise IntakeError(f"unknown intake field {str(extra[0])[:60]!r} (known: {', '.join(TOP_LEVEL)})")

    age = _number(raw.get("age"), "age", *kb.ranges["age"])
    skin_type = _number(raw.get("skin_type"), "skin_type", *kb.ranges["skin_type"], integer=True)

    device = {} if raw.get("device") is None else raw.get("device")
    if not isinstance(device, dict):
        raise IntakeError("device must be an object with 'type' and 'needle_mm'")
    bad = [k for k in device if k not in ("type", "needle_mm")]
    if bad:
        raise IntakeError(f"unknown device field {str(bad[0])[:60]!r} (known: type, needle_mm)")
    device_type = device.get("type")
    if device_type is not None and device_type not in kb.device_types:
        raise IntakeError(f"unknown device type {str(device_type)[:60]!r} "
                          f"(known: {', '.join(kb.device_types)})")
    needle = _number(device.get("needle_mm"), "device.needle_mm", *kb.ranges["needle_mm"])

    facts_in = {} if raw.get("facts") is None else raw.get("facts")
    if not isinstance(facts_in, dict):
        raise IntakeError("facts must be an object of fact ids")
    facts: Dict[str, Any] = {}
    for fid, v in facts_in.items():
        spec = kb.facts.get(fid)
        if spec is None:
            raise IntakeError(f"unknown fact id {str(fid)[:60]!r}")
        if fid in kb.number_facts:
            facts[fid] = _number(v, f"facts.{fid}", spec.get("min", 0), spec.get("max", 1e9))
        elif v is None or isinstance(v, bool):
            facts[fid] = v
        else:
            raise IntakeError(f"facts.{fid} must be true, false or null, got {str(v)[:60]!r}")
    _infer(facts)

    procs_in = {} if raw.get("recent_procedures") is None else raw.get("recent_procedures")
    if not isinstance(procs_in, dict):
        raise IntakeError("recent_procedures must be an object of procedure ids to days")
    procedures: Dict[str, float] = {}
    for pid, days in procs_in.items():
        if pid not in kb.procedures:
            raise IntakeError(f"unknown procedure {str(pid)[:60]!r} (known: {', '.join(kb.procedures)})")
        d = _number(days, f"recent_procedures.{pid}", 0, 36500)
        # A procedure with no known date counts as today: the cautious reading (longest wait).
        procedures[pid] = 0 if d is None else d

    return Intake(
        age=age, skin_type=skin_type, needle_mm=needle, device_type=device_type,
        concerns=_id_list(raw.get("concerns"), kb.concerns, "concerns"),
        areas=_id_list(raw.get("areas"), kb.areas, "areas"),
        facts=facts, procedures=procedures,
        red_flags=_id_list(raw.get("red_flags"), kb.red_flags, "red_flags"),
    )


def _infer(facts: Dict[str, Any]) -> None:
    """Facts implied by others (only ever filling an unknown, never overriding an answer)."""
    if facts.get("recent_procedures_asked") is False:
        facts["recent_procedures_asked"] = None  # "not asked" is unknown, never "none"
    current = facts.get("isotretinoin_current")
    stopped = facts.get("isotretinoin_stopped_months_ago")
    if facts.get("isotretinoin_ever") is None and (current is True or stopped is not None):
        facts["isotretinoin_ever"] = True
    if current is None and facts.get("isotretinoin_ever") is False:
        facts["isotretinoin_current"] = False
