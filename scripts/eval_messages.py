"""Fact-reading evaluation on a message set written by someone else (eval/blind/messages.yml,
eval/dev/messages.yml, eval/real/texts.yml). Never trained on (tests/test_eval_sets.py checks).

Each message goes through the trained model (Rasa's parse: the project's spaCy pipeline,
DIET's intent, the intent corrections) and the same fact mapping as the conversation
(`facts_from_message`). A message labelled with a `context` (the question it answers) is read
as an answer to that question. Reports, over (field, value) pairs:

- precision, recall, F1 (facts true/false/months, concerns, areas, age, device, skin type,
  red flags, recent procedures);
- hedges kept unknown: a fact labelled `unknown` must come out neither yes nor no;
- unsafe readings: a fact labelled yes or unknown read as no, a red flag missed, a place named
  for a history taken as a treatment area;
- false alarms: a red flag where the label says none.

    .venv/bin/python scripts/eval_messages.py [--set eval/blind/messages.yml] [--errors] [--json]
    .venv/bin/python scripts/eval_messages.py --fast   # spaCy pipeline only, intent 'inform'
"""
import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# the question a `context` label stands for (eval sets name topics, not question ids)
CONTEXT_QUESTION = {"consent": "consent", "concerns_areas_age": "profile", "health_now": "health",
                    "skin_now": "skin_now", "history": "history", "products": "products_procedures",
                    "skin_type": "skin_type"}


def load(path: Path) -> List[Dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data.get("messages") or data.get("texts") or []


def _num(v) -> Any:
    return round(float(v), 2) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def expected_pairs(exp: Dict[str, Any]) -> Tuple[Set[Tuple], Set[str]]:
    """(field, key, value) pairs to find, and the facts that must stay unknown."""
    out, unknown = set(), set()
    for k, v in (exp.get("facts") or {}).items():
        if v == "unknown" or v is None:
            unknown.add(k)
        else:
            out.add(("fact", k, _num(v)))
    for key in ("concerns", "areas", "red_flags"):
        for v in exp.get(key) or []:
            out.add((key, v, True))
    for key in ("age", "skin_type"):
        v = exp.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.add((key, key, _num(v)))
    for k, v in (exp.get("device") or {}).items():
        if v is not None and v != "unknown":
            out.add(("device", k, _num(v)))
    for k, v in (exp.get("recent_procedures") or {}).items():
        if v is not None and v != "unknown":
            out.add(("procedure", k, _num(v)))
    return out, unknown


def got_pairs(upd: Dict[str, Any]) -> Set[Tuple]:
    out = set()
    for k, v in upd["facts"].items():
        out.add(("fact", k, _num(v)))
    for key in ("concerns", "areas", "red_flags"):
        for v in upd[key]:
            out.add((key, v, True))
    for key in ("age", "skin_type"):
        if upd.get(key) is not None:
            out.add((key, key, _num(upd[key])))
    for k, v in upd["device"].items():
        out.add(("device", k, _num(v)))
    for k, v in upd["recent_procedures"].items():
        out.add(("procedure", k, _num(v)))
    return out


def _close(a: Tuple, b: Tuple) -> bool:
    """Same field and key, and the same value (numbers: months within 1.5, days within 30%
    or 3 days, needle mm exact, ages exact)."""
    if a[:2] != b[:2]:
        return False
    if a[2] == b[2]:
        return True
    x, y = a[2], b[2]
    if isinstance(x, bool) or isinstance(y, bool) or not all(isinstance(v, float) for v in (x, y)):
        return False
    if a[0] == "fact":  # months since isotretinoin
        return abs(x - y) <= 1.5
    if a[0] == "procedure":
        return abs(x - y) <= max(3.0, 0.3 * max(x, y))
    return False


def score(cases: List[Dict[str, Any]], updates: List[Dict[str, Any]]) -> Dict[str, Any]:
    tp = fp = fn = 0
    hedges = hedges_kept = 0
    unsafe: List[Dict[str, Any]] = []
    alarms: List[Dict[str, Any]] = []
    errors: List[Dict[str, Any]] = []
    flag_msgs = flag_found = 0
    for case, upd in zip(cases, updates):
        exp = case.get("expect") or {}
        want, unknown = expected_pairs(exp)
        got = got_pairs(upd)
        # a fact the label leaves out may still be read (e.g. isotretinoin_ever from "never
        # took accutane"): only facts the label names are scored, plus everything else
        named = {k for k in (exp.get("facts") or {})}
        got_scored = {g for g in got if g[0] != "fact" or g[1] in named or g[2] is True}
        hit = {w for w in want if any(_close(w, g) for g in got)}
        extra = {g for g in got_scored if not any(_close(w, g) for w in want)
                 and not (g[0] == "fact" and g[1] in unknown)}
        tp += len(hit)
        fn += len(want - hit)
        fp += len(extra)
        for k in unknown:
            hedges += 1
            if k not in upd["facts"]:
                hedges_kept += 1
        problems = []
        for k, v in (exp.get("facts") or {}).items():
            if (v is True or v == "unknown") and upd["facts"].get(k) is False:
                problems.append(f"{k}: {v} read as no")
        for f in exp.get("red_flags") or []:
            if f not in upd["red_flags"]:
                problems.append(f"red flag {f} missed")
        for a in exp.get("not_areas") or []:
            if a in upd["areas"] and a not in (exp.get("areas") or []):
                problems.append(f"area {a} named for a history taken as a treatment area")
        if exp.get("red_flags"):
            flag_msgs += 1
            flag_found += all(f in upd["red_flags"] for f in exp["red_flags"])
        if "red_flags" in exp and not exp["red_flags"] and upd["red_flags"]:
            alarms.append({"id": case.get("id"), "text": case["text"], "got": upd["red_flags"]})
        if problems:
            unsafe.append({"id": case.get("id"), "text": case["text"], "problems": problems})
        if want - hit or extra or problems:
            errors.append({"id": case.get("id"), "text": case["text"],
                           "missed": sorted(map(str, want - hit)), "extra": sorted(map(str, extra)),
                           "unknown_read": sorted(k for k in unknown if k in upd["facts"])})
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"messages": len(cases), "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
            "hedges_kept_unknown": f"{hedges_kept}/{hedges}",
            "red_flag_messages_recognised": f"{flag_found}/{flag_msgs}",
            "unsafe_messages": len(unsafe), "false_alarms": len(alarms),
            "_unsafe": unsafe, "_alarms": alarms, "_errors": errors}


def read_fast(cases, ablate=()):
    from actions.dialogue.state import QUESTIONS
    from actions.nlu import spacy_pipeline
    from actions.nlu.entities import entities_from_doc
    from actions.nlu.facts import facts_from_message
    if "lemmas" in ablate or "typos" in ablate:
        nlp = spacy_pipeline.build(lemmas="lemmas" not in ablate, typos="typos" not in ablate,
                                   statistical="statistical" not in ablate)
    else:  # the built pipeline (python -m actions.nlu build), its trained part on or off
        nlp = spacy_pipeline.load()
        if "statistical" in ablate:
            nlp.disable_pipe("fact_spancat")
            nlp.disable_pipe("fact_statistical")
    out = []
    for c in cases:
        q = CONTEXT_QUESTION.get(c.get("context") or "")
        ents = entities_from_doc(nlp(c["text"].lower()))
        out.append(_read(c, ents, "inform", q, QUESTIONS))
    return out


def _read(case, entities, intent, q, questions):
    from actions.nlu.facts import facts_from_message
    question = q if q in questions else None
    items = list(questions[question]["items"]) if question else []
    rest = any(e.get("entity") == "rest_false" for e in entities)
    upd = facts_from_message(entities, intent=intent, text=case["text"], question=question,
                             unknown_items=items, rest_false=rest)
    return upd


async def _read_rasa(cases):
    from actions.dialogue.state import QUESTIONS
    from actions.nlu.__main__ import load_agent
    agent = load_agent()
    out = []
    for c in cases:
        parsed = await agent.parse_message(c["text"][:5000])
        intent = (parsed.get("intent") or {}).get("name")
        q = CONTEXT_QUESTION.get(c.get("context") or "")
        out.append(_read(c, parsed.get("entities") or [], intent, q, QUESTIONS))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(ROOT / "eval" / "blind" / "messages.yml"))
    ap.add_argument("--fast", action="store_true", help="spaCy pipeline only (no trained model)")
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--ablate", default="", help="with --fast: lemmas,typos,statistical (switch parts off)")
    ap.add_argument("--unsafe", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--today", default="2026-12-01",
                    help="count dates from this day (the sets were written on 2026-12-01)")
    args = ap.parse_args(argv)
    os.environ["TRIAGE_TODAY"] = args.today
    cases = [c for c in load(Path(args.set)) if c.get("context") != "consent"]
    ablate = [a for a in args.ablate.split(",") if a]
    updates = read_fast(cases, ablate) if args.fast else asyncio.run(_read_rasa(cases))
    result = score(cases, updates)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
    else:
        print(f"{args.set}: {result['messages']} messages")
        for k, v in result.items():
            if not k.startswith("_"):
                print(f"  {k}: {v}")
    if args.unsafe or args.errors:
        for u in result["_unsafe"]:
            print("UNSAFE", u["id"], u["text"], u["problems"])
        for a in result["_alarms"]:
            print("ALARM", a["id"], a["text"], a["got"])
    if args.errors:
        for e in result["_errors"]:
            print("ERR", e["id"], e["text"], "| missed", e["missed"], "| extra", e["extra"],
                  "| unknown read", e["unknown_read"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
