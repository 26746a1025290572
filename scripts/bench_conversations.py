"""Whole conversations with simulated people, through the real servers (Rasa + action
server on loopback, REST channel, SQL tracker store), as a benchmark.

Every persona of the set (default: eval/blind/conversations.yml, written blind and never
trained on) holds a conversation (tools/simulated_person.py); the script prints, over the
set: correct (the policy's disposition), unsafe (less urgent than the policy), toward home
(a home answer the policy does not give), late red flags, stuck, handed to a person, and the
median number of messages to the answer, then one line per failure.

    .venv/bin/python scripts/bench_conversations.py [--set FILE] [--only c001,c002] [--show]
"""
import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.servers import running_assistant  # noqa: E402
from tools.simulated_person import HOME, converse  # noqa: E402


def run(people, show=False):
    outcomes = []
    with running_assistant() as bot:
        for person in people:
            sender = f"sim-{person['id']}-{uuid.uuid4().hex[:6]}"
            o = converse(person, lambda s, t, m: bot.say(s, t, m), bot.tracker, sender)
            outcomes.append(o)
            mark = "ok " if o.correct else "BAD"
            print(f"{mark} {o.id}: expected {o.expected}, got {o.got}"
                  f"{' UNSAFE' if o.unsafe else ''}{' LATE-RED-FLAG' if o.late_red_flag else ''}"
                  f"{' STUCK' if o.stuck else ''}{' handed-off' if o.handed_off else ''}"
                  f" ({o.messages_to_answer} messages)", flush=True)
            if show or (not o.correct and show is None):
                print("    " + "\n    ".join(o.transcript))
    return outcomes


def summary(outcomes):
    n = len(outcomes)
    answered = [o.messages_to_answer for o in outcomes if o.messages_to_answer]
    return {
        "conversations": n,
        "correct": sum(o.correct for o in outcomes),
        "correct_rate": round(sum(o.correct for o in outcomes) / n, 3) if n else 0,
        "unsafe": sum(o.unsafe for o in outcomes),
        "toward_home": sum(1 for o in outcomes if o.got in HOME and o.expected not in HOME),
        "late_red_flags": sum(o.late_red_flag for o in outcomes),
        "stuck": sum(o.stuck for o in outcomes),
        "handed_off": sum(o.handed_off for o in outcomes),
        "median_messages_to_answer": statistics.median(answered) if answered else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(ROOT / "eval" / "blind" / "conversations.yml"))
    ap.add_argument("--only", default="")
    ap.add_argument("--show", action="store_true", help="print every transcript")
    ap.add_argument("--show-failures", action="store_true")
    ap.add_argument("--json", default="", help="write the outcomes to this file")
    ap.add_argument("--today", default="2026-12-01",
                    help="count dates from this day (the sets were written on 2026-12-01)")
    args = ap.parse_args(argv)
    os.environ["TRIAGE_TODAY"] = args.today
    people = yaml.safe_load(Path(args.set).read_text(encoding="utf-8"))["people"]
    if args.only:
        wanted = set(args.only.split(","))
        people = [p for p in people if p["id"] in wanted]
    start = time.time()
    outcomes = run(people, show=True if args.show else (None if args.show_failures else False))
    result = summary(outcomes)
    result["seconds"] = round(time.time() - start)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": result,
                                               "outcomes": [o.as_dict() for o in outcomes]},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
