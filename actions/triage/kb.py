"""Loading and validating the knowledge base (knowledge_base.yml).

The YAML is read once, checked thoroughly (a broken knowledge base fails loudly, naming the
rule and the problem) and compiled: every rule's `when` becomes a plain Python predicate over
a normalised intake, so that assessing is cheap.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

DEFAULT_PATH = Path(__file__).with_name("knowledge_base.yml")

Predicate = Callable[["Intake"], bool]  # noqa: F821 (Intake: see intake.py)

_COMPARATORS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}
# Top-level numbers a condition may read with {value: ...}.
VALUE_PATHS = ("age", "skin_type", "device.needle_mm")
# libyaml's safe loader when PyYAML has it (about 7x faster: the YAML parse is nearly all of the
# load time); the pure-Python safe loader otherwise. Both build the same plain data.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Ask-order items that are not facts.
INTAKE_ITEMS = ("concerns", "areas", "age", "skin_type")


class KnowledgeBaseError(ValueError):
    """The knowledge base is malformed; the message names the rule or section."""


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    message: str
    sources: Tuple[str, ...]
    predicate: Optional[Predicate]  # None: fired by the engine itself
    stop: bool
    until: Optional[str] = None
    precaution: Optional[str] = None
    max_needle_mm: Optional[float] = None
    wait_days: Optional[int] = None
    wait_procedure: Optional[str] = None
    wait_total_days: Optional[int] = None


@dataclass(frozen=True)
class AskItem:
    id: str
    critical: bool
    only_if: Optional[Predicate]
    known_if: Optional[Predicate]


@dataclass
class KnowledgeBase:
    version: str
    raw: Mapping[str, Any]
    levels: Tuple[str, ...]
    rank: Dict[str, int]
    rules: Tuple[Rule, ...]
    rules_by_id: Dict[str, Rule]
    ask_order: Tuple[AskItem, ...]
    facts: Mapping[str, Mapping[str, Any]]
    number_facts: frozenset
    concerns: Mapping[str, Mapping[str, Any]]
    areas: Mapping[str, Mapping[str, Any]]
    procedures: Mapping[str, Mapping[str, Any]]
    red_flags: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, Mapping[str, Any]]
    device_types: Tuple[str, ...]
    home_ceiling_mm: float
    interval_steps: Tuple[Tuple[float, int], ...]
    ranges: Dict[str, Tuple[float, float]] = field(default_factory=dict)

    @property
    def home_levels(self) -> Tuple[str, ...]:
        return ("home_with_precautions", "home_suitable")

    def label(self, item: str) -> str:
        """How an ask-order item or fact reads to the person."""
        if item in self.facts:
            return self.facts[item]["label"]
        return {"concerns": "what you want to treat", "areas": "which areas you want to treat",
                "age": "your age", "skin_type": "your skin type"}.get(item, item.replace("_", " "))


def load(path: Path | str = DEFAULT_PATH) -> KnowledgeBase:
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"{path}: cannot read knowledge base: {exc}") from exc
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{path}: the knowledge base must be a mapping")
    return build(raw)


def _require(raw: Mapping[str, Any], key: str, kind: type, where: str = "knowledge base") -> Any:
    if key not in raw:
        raise KnowledgeBaseError(f"{where}: missing '{key}'")
    if not isinstance(raw[key], kind):
        raise KnowledgeBaseError(f"{where}: '{key}' must be a {kind.__name__}")
    return raw[key]


def build(raw: Mapping[str, Any]) -> KnowledgeBase:
    version = str(_require(raw, "version", (str,)))
    dispositions = _require(raw, "dispositions", dict)
    levels = tuple(dispositions)
    expected = ("emergency", "urgent_care", "do_not_treat", "professional_consult",
                "home_with_precautions", "home_suitable")
    if levels != expected:
        raise KnowledgeBaseError(f"dispositions: must be, most urgent first, {list(expected)}")
    for level, d in dispositions.items():
        if not isinstance(d, dict) or not d.get("headline"):
            raise KnowledgeBaseError(f"disposition {level}: needs a headline")
    facts = _require(raw, "facts", dict)
    for fid, f in facts.items():
        if not isinstance(f, dict) or not f.get("label"):
            raise KnowledgeBaseError(f"fact {fid}: needs a label")
    number_facts = frozenset(f for f, d in facts.items() if d.get("type") == "number")
    concerns = _require(raw, "concerns", dict)
    areas = _require(raw, "areas", dict)
    procedures = _require(raw, "procedures", dict)
    red_flags = _require(raw, "red_flags", dict)
    sources = _require(raw, "sources", dict)
    for sid, s in sources.items():
        if not isinstance(s, dict) or not s.get("title") or not s.get("kind"):
            raise KnowledgeBaseError(f"source {sid}: needs a kind and a title")
    for aid, a in areas.items():
        mm = a.get("max_home_mm") if isinstance(a, dict) else "?"
        if mm is not None and not isinstance(mm, (int, float)):
            raise KnowledgeBaseError(f"area {aid}: max_home_mm must be a number or null")

    names = _Names(facts=facts, concerns=concerns, areas=areas, procedures=procedures,
                   red_flags=red_flags)

    rules: List[Rule] = []
    seen = set()
    for i, r in enumerate(_require(raw, "rules", list)):
        rid = r.get("id") if isinstance(r, dict) else None
        where = f"rule {rid or '#' + str(i + 1)}"
        if not rid or not isinstance(rid, str):
            raise KnowledgeBaseError(f"{where}: needs an id")
        if rid in seen:
            raise KnowledgeBaseError(f"{where}: duplicate id")
        seen.add(rid)
        unknown_keys = set(r) - {"id", "when", "level", "message", "sources", "stop", "until",
                                 "precaution", "max_needle_mm", "wait_days", "wait"}
        if unknown_keys:
            raise KnowledgeBaseError(f"{where}: unknown keys {sorted(unknown_keys)}")
        level = r.get("level")
        if level not in levels:
            raise KnowledgeBaseError(f"{where}: level '{level}' is not a disposition")
        if not r.get("message") or not isinstance(r["message"], str):
            raise KnowledgeBaseError(f"{where}: needs a message to the person")
        srcs = r.get("sources")
        if not srcs or not isinstance(srcs, list):
            raise KnowledgeBaseError(f"{where}: needs at least one source")
        for s in srcs:
            if s not in sources:
                raise KnowledgeBaseError(f"{where}: unknown source '{s}'")
        if "when" not in r:
            raise KnowledgeBaseError(f"{where}: needs a 'when'")
        predicate = None if r["when"] == "engine" else _compile(r["when"], names, where)
        wait = r.get("wait")
        wait_proc = wait_total = None
        if wait is not None:
            if not isinstance(wait, dict) or wait.get("procedure") not in procedures \
                    or not isinstance(wait.get("days"), int):
                raise KnowledgeBaseError(f"{where}: wait needs a known procedure and whole days")
            wait_proc, wait_total = wait["procedure"], wait["days"]
        home = level in ("home_with_precautions", "home_suitable")
        stop = r.get("stop", not home)
        if home and stop:
            raise KnowledgeBaseError(f"{where}: a home-level rule cannot stop the intake")
        for key in ("max_needle_mm",):
            if key in r and not isinstance(r[key], (int, float)):
                raise KnowledgeBaseError(f"{where}: {key} must be a number")
        rules.append(Rule(
            id=rid, level=level, message=r["message"], sources=tuple(srcs),
            predicate=predicate, stop=bool(stop), until=r.get("until"),
            precaution=r.get("precaution"), max_needle_mm=r.get("max_needle_mm"),
            wait_days=r.get("wait_days"), wait_procedure=wait_proc, wait_total_days=wait_total,
        ))
    rules_by_id = {r.id: r for r in rules}
    for engine_rule in ("critical_unknown", "other_unknown"):
        if engine_rule not in rules_by_id or rules_by_id[engine_rule].predicate is not None:
            raise KnowledgeBaseError(f"rule {engine_rule}: must exist with 'when: engine'")

    ask: List[AskItem] = []
    for item in _require(raw, "ask_order", list):
        iid = item.get("id") if isinstance(item, dict) else None
        where = f"ask_order item {iid}"
        if iid not in facts and iid not in INTAKE_ITEMS:
            raise KnowledgeBaseError(f"{where}: not a fact or intake field")
        ask.append(AskItem(
            id=iid, critical=bool(item.get("critical")),
            only_if=_compile(item["only_if"], names, where) if "only_if" in item else None,
            known_if=_compile(item["known_if"], names, where) if "known_if" in item else None,
        ))
    crit = [a.critical for a in ask]
    if crit != sorted(crit, reverse=True):
        raise KnowledgeBaseError("ask_order: critical items must come before the others")

    intervals = _require(raw, "intervals", dict)
    steps = tuple((float(s["max_mm"]), int(s["min_interval_days"])) for s in intervals["steps"])
    for s in intervals.get("sources", []):
        if s not in sources:
            raise KnowledgeBaseError(f"intervals: unknown source '{s}'")
    ceiling = float(_require(raw, "home_ceiling_mm", (int, float)))
    if ceiling > 0.5:
        raise KnowledgeBaseError("home_ceiling_mm: the policy never allows more than 0.5 mm at home")
    if steps[-1][0] < ceiling:
        raise KnowledgeBaseError("intervals: the last step must cover the home ceiling")
    plan = _require(raw, "home_plan", dict)
    for key in ("precautions", "aftercare", "sources"):
        _require(plan, key, list, "home_plan")

    def rng(key: str) -> Tuple[float, float]:
        d = _require(raw, key, dict)
        return (d["min"], d["max"])

    return KnowledgeBase(
        version=version, raw=raw, levels=levels, rank={lv: i for i, lv in enumerate(levels)},
        rules=tuple(rules), rules_by_id=rules_by_id, ask_order=tuple(ask), facts=facts,
        number_facts=number_facts, concerns=concerns, areas=areas, procedures=procedures,
        red_flags=red_flags, sources=sources,
        device_types=tuple(_require(raw, "device_types", list)), home_ceiling_mm=ceiling,
        interval_steps=steps,
        ranges={"age": rng("age_range"), "skin_type": rng("skin_types"),
                "needle_mm": rng("needle_range_mm")},
    )


@dataclass
class _Names:
    facts: Mapping[str, Any]
    concerns: Mapping[str, Any]
    areas: Mapping[str, Any]
    procedures: Mapping[str, Any]
    red_flags: Mapping[str, Any]


def _ids(value: Any, known: Mapping[str, Any], what: str, where: str) -> frozenset:
    if not isinstance(value, list) or not value:
        raise KnowledgeBaseError(f"{where}: {what} list must be a non-empty list")
    for v in value:
        if v not in known:
            raise KnowledgeBaseError(f"{where}: unknown {what} '{v}'")
    return frozenset(value)


def _comparison(cond: Mapping[str, Any], where: str, getter: Callable, keys: set):
    ops = [k for k in cond if k in _COMPARATORS]
    extra = set(cond) - keys - set(_COMPARATORS)
    if extra:
        raise KnowledgeBaseError(f"{where}: unknown condition keys {sorted(extra)}")
    if len(ops) != 1 or not isinstance(cond[ops[0]], (int, float)):
        raise KnowledgeBaseError(f"{where}: needs exactly one numeric comparison (lt/lte/gt/gte)")
    cmp, bound = _COMPARATORS[ops[0]], cond[ops[0]]

    def pred(i):
        v = getter(i)
        return v is not None and cmp(v, bound)
    return pred


def _compile(cond: Any, names: _Names, where: str) -> Predicate:  # noqa: C901 (a dispatcher)
    if not isinstance(cond, dict) or not cond:
        raise KnowledgeBaseError(f"{where}: a condition must be a non-empty mapping, got {cond!r}")
    if "all" in cond or "any" in cond:
        key = "all" if "all" in cond else "any"
        if len(cond) != 1 or not isinstance(cond[key], list) or not cond[key]:
            raise KnowledgeBaseError(f"{where}: '{key}' takes a non-empty list and nothing else")
        parts = tuple(_compile(c, names, where) for c in cond[key])
        if key == "all":
            return lambda i: all(p(i) for p in parts)
        return lambda i: any(p(i) for p in parts)
    if "fact" in cond:
        fid = cond["fact"]
        if fid not in names.facts:
            raise KnowledgeBaseError(f"{where}: unknown fact '{fid}'")
        if any(k in cond for k in _COMPARATORS):
            if names.facts[fid].get("type") != "number":
                raise KnowledgeBaseError(f"{where}: fact '{fid}' is not a number")
            return _comparison(cond, where, lambda i: i.facts.get(fid), {"fact"})
        extra = set(cond) - {"fact", "is", "not"}
        if extra or ("is" in cond and "not" in cond):
            raise KnowledgeBaseError(f"{where}: fact condition takes 'is' or 'not', not {sorted(extra)}")
        if "is" in cond:
            want = cond["is"]
            if want not in (True, False, None):
                raise KnowledgeBaseError(f"{where}: 'is' must be true, false or null")
            return lambda i: i.facts.get(fid) is want
        if "not" in cond:
            bad = cond["not"]
            if bad not in (True, False):
                raise KnowledgeBaseError(f"{where}: 'not' must be true or false")
            return lambda i: i.facts.get(fid) is not bad
        return lambda i: i.facts.get(fid) is True
    if "value" in cond:
        path = cond["value"]
        if path not in VALUE_PATHS:
            raise KnowledgeBaseError(f"{where}: unknown value '{path}' (one of {list(VALUE_PATHS)})")
        attr = path.replace("device.", "")
        return _comparison(cond, where, lambda i: getattr(i, attr), {"value"})
    if "procedure" in cond:
        proc = cond["procedure"]
        if proc not in names.procedures:
            raise KnowledgeBaseError(f"{where}: unknown procedure '{proc}'")
        return _comparison(cond, where, lambda i: i.procedures.get(proc), {"procedure"})
    if "known" in cond:
        k = cond["known"]
        if k not in names.facts and k not in INTAKE_ITEMS:
            raise KnowledgeBaseError(f"{where}: unknown fact '{k}'")
        if k in names.facts:
            return lambda i: i.facts.get(k) is not None
        return lambda i: i.is_known(k)
    for key, known, what, attr in (
        ("concern_any", names.concerns, "concern", "concerns"),
        ("area_any", names.areas, "area", "areas"),
        ("red_flag_any", names.red_flags, "red flag", "red_flags"),
    ):
        if key in cond:
            ids = _ids(cond[key], known, what, where)
            return lambda i, ids=ids, attr=attr: not ids.isdisjoint(getattr(i, attr))
    if "area_none" in cond:
        ids = _ids(cond["area_none"], names.areas, "area", where)
        return lambda i: bool(i.areas) and ids.isdisjoint(i.areas)
    raise KnowledgeBaseError(f"{where}: unknown condition {cond!r}")
