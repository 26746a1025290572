#!/usr/bin/env python
"""Benchmark of the triage engine (a benchmark, not a test: nothing here runs under pytest).

Measures, in one process on one core:
  - knowledge-base load time: kb.load() from the YAML file, fresh each time, median of 20;
  - assessment throughput: a mix of representative intakes assessed round-robin for about
    3 seconds, with per-assessment p50 / p95 latency.

Usage:  python scripts/bench_engine.py [--seconds 3] [--json]
Exit status 1 when below the targets (>= 5,000 assessments/s, load < 200 ms), else 0.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from actions.triage import assess, default_kb  # noqa: E402
from actions.triage import kb as kb_module  # noqa: E402

MIN_RATE = 5000  # assessments per second
MAX_LOAD_MS = 200.0
LOADS = 20


def _intakes() -> dict:
    home = json.loads((REPO / "examples" / "home_suitable.json").read_text(encoding="utf-8"))

    def variant(facts=None, **top):
        out = copy.deepcopy(home)
        out["facts"].update(facts or {})
        out.update(top)
        return out

    return {
        "home_suitable": home,
        "precautions (botox, retinol, under-eye)": variant(
            {"topical_retinoid_otc": True}, areas=["forehead", "under_eye"],
            recent_procedures={"botox": 9}),
        "precautions (controlled diabetes, skin type 5)": variant(
            {"diabetes": True, "diabetes_controlled": True, "pih_history": False}, skin_type=5),
        "professional (anticoagulant, acne scars)": variant(
            {"anticoagulant": True}, concerns=["acne_scars"],
            device={"type": "pen", "needle_mm": 1.5}),
        "do_not_treat (pregnant, sunburn)": variant({"pregnant": True, "sunburn": True}),
        "red flag (pus, fever)": variant(red_flags=["pus", "fever"]),
        "early dialogue (mostly unknown)": {"concerns": ["texture"], "areas": ["cheeks"]},
        "empty intake": {},
    }


def bench_load(n: int = LOADS) -> dict:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        kb_module.load()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "loads": n}


def bench_assess(seconds: float) -> dict:
    kb = default_kb()
    intakes = list(_intakes().items())
    for _, intake in intakes:  # warm up, and check every intake is valid
        assess(intake, kb=kb)
    clock = time.perf_counter_ns
    n_kinds = len(intakes)
    samples = []
    per_kind = {name: [] for name, _ in intakes}
    deadline = clock() + int(seconds * 1e9)
    start = clock()
    i = 0
    while True:
        name, intake = intakes[i % n_kinds]
        t0 = clock()
        assess(intake, kb=kb)
        dt = clock() - t0
        samples.append(dt)
        per_kind[name].append(dt)
        i += 1
        if t0 >= deadline:
            break
    elapsed = (clock() - start) / 1e9
    samples.sort()

    def pct(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(p / 100 * len(values)))] / 1000  # ns -> µs

    return {
        "assessments": len(samples),
        "seconds": elapsed,
        "per_second": len(samples) / elapsed,
        "p50_us": pct(samples, 50),
        "p95_us": pct(samples, 95),
        "per_intake_p50_us": {name: pct(v, 50) for name, v in per_kind.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="assessment run time (3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    load = bench_load()
    run = bench_assess(args.seconds)
    ok = run["per_second"] >= MIN_RATE and load["median_ms"] < MAX_LOAD_MS
    figures = {
        "python": sys.version.split()[0],
        "rules_version": default_kb().version,
        "rules": len(default_kb().rules),
        "kb_load": load,
        "assess": run,
        "targets": {"min_per_second": MIN_RATE, "max_load_ms": MAX_LOAD_MS},
        "ok": ok,
    }
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        print(f"triage engine benchmark (Python {figures['python']}, rules "
              f"{figures['rules_version']}, {figures['rules']} rules, one process)")
        rows = [
            ("KB load, median of 20", f"{load['median_ms']:.1f} ms",
             f"< {MAX_LOAD_MS:.0f} ms", load["median_ms"] < MAX_LOAD_MS),
            ("assessments / second", f"{run['per_second']:,.0f}",
             f">= {MIN_RATE:,}", run["per_second"] >= MIN_RATE),
            ("assessment p50", f"{run['p50_us']:.1f} µs", "", None),
            ("assessment p95", f"{run['p95_us']:.1f} µs", "", None),
        ]
        for label, value, target, good in rows:
            verdict = "" if good is None else ("ok" if good else "BELOW TARGET")
            print(f"  {label:<24} {value:>14}  {target:<10} {verdict}")
        print(f"  ({run['assessments']:,} assessments of {len(run['per_intake_p50_us'])} "
              f"intakes in {run['seconds']:.2f} s; p50 per intake:)")
        for name, us in run["per_intake_p50_us"].items():
            print(f"    {name:<48} {us:8.1f} µs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
