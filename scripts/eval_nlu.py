"""NLU evaluation on a held-out set (tests/nlu/heldout.yml or tests/nlu/heldout_blind.yml,
never trained on).

Runs every case through `python -m actions.nlu extract` (the trained model, then the same
fact mapping the conversation uses) and reports intent accuracy and fact-extraction
precision, recall and F1 over (field, value) pairs: facts (negation and time included),
concerns, areas, age, device, red flags and recent procedures.

    .venv/bin/python scripts/eval_nlu.py [--json] [--errors]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


def pairs(row):
    out = set()
    for k, v in (row.get("facts") or {}).items():
        out.add(("fact", k, _norm(v)))
    for key in ("concerns", "areas", "red_flags"):
        for v in row.get(key) or []:
            out.add((key, v, True))
    if row.get("age") is not None:
        out.add(("age", "age", _norm(row["age"])))
    for k, v in (row.get("device") or {}).items():
        if v is not None:
            out.add(("device", k, _norm(v)))
    for k, v in (row.get("recent_procedures") or {}).items():
        out.add(("procedure", k, _norm(v)))
    return out


def _norm(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return round(float(v))  # whole units: months, days, years, and needle mm below
    return v


def evaluate(cases, rows):
    correct = tp = fp = fn = 0
    errors = []
    for case, row in zip(cases, rows):
        if row["intent"] == case["intent"]:
            correct += 1
        else:
            errors.append({"text": case["text"], "expected_intent": case["intent"], "got": row["intent"]})
        want = pairs(case)
        if "device" in case and "needle_mm" in (case["device"] or {}):
            want = {p for p in want if p[1] != "needle_mm"} | {("device", "needle_mm", round(float(case["device"]["needle_mm"]) * 100))}
        got = pairs(row)
        if row.get("device", {}).get("needle_mm") is not None:
            got = {p for p in got if p[1] != "needle_mm"} | {("device", "needle_mm", round(float(row["device"]["needle_mm"]) * 100))}
        tp += len(want & got)
        fp += len(got - want)
        fn += len(want - got)
        if want != got:
            errors.append({"text": case["text"], "missing": sorted(map(str, want - got)),
                           "extra": sorted(map(str, got - want))})
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"cases": len(cases), "intent_accuracy": round(correct / len(cases), 3),
            "fact_precision": round(precision, 3), "fact_recall": round(recall, 3),
            "fact_f1": round(f1, 3), "fact_pairs_expected": tp + fn}, errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--set", default=str(HELDOUT),
                        help="held-out file (default tests/nlu/heldout.yml; the second, blind "
                             "set is tests/nlu/heldout_blind.yml)")
    args = parser.parse_args(argv)
    cases = yaml.safe_load(Path(args.set).read_text(encoding="utf-8"))["cases"]
    proc = subprocess.run([sys.executable, "-m", "actions.nlu", "extract"], cwd=ROOT,
                          input="\n".join(c["text"] for c in cases) + "\n", text=True,
                          capture_output=True, check=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(cases), (len(rows), len(cases), proc.stderr[-2000:])
    result, errors = evaluate(cases, rows)
    if args.json:
        print(json.dumps({**result, "errors": errors} if args.errors else result))
    else:
        for k, v in result.items():
            print(f"{k:22} {v}")
        if args.errors:
            for e in errors:
                print(json.dumps(e, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
