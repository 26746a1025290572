"""Benchmark of the whole assistant (not a test; figures go in the README).

Measures: training time (a fresh training into a temporary folder; skip with --no-train),
server start-up time, resident memory of the Rasa server and the action server, p50/p95
latency per user turn over whole conversations through the REST channel with the action
server, and user turns to an answer.

    .venv/bin/python scripts/bench_assistant.py [--no-train] [--rounds 10] [--json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.servers import running_assistant  # noqa: E402

CONVERSATIONS = {
    "home path, stated plainly (recap included)": [
        "hi", "yes", "fine lines on my forehead and cheeks, I'm 34", "none of these",
        "none", "no", "none", "I usually burn and tan a little", "yes, that's right"],
    "home path, profile in the first message (recap included)": [
        "fine lines on my forehead, I'm 34", "sure, go for it", "none of those", "nope",
        "never had any of those", "nothing like that", "fair, I usually burn", "that's right"],
    "absolute contraindication in the first message": [
        "I'm 29, on Accutane, want to fix acne scars on my cheeks with a 1mm pen", "yes"],
    "relative contraindication": [
        "hello", "sure", "texture on my cheeks, 45", "I take Eliquis"],
    "red flag mid-intake": [
        "hi", "yes", "my face is swelling and it's hard to breathe"],
    "faq and why": [
        "how often can I microneedle?", "hi", "yes", "why do you ask?",
        "pores on my nose, I'm 38", "how do I clean my roller?"],
}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def train_seconds() -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-train-"))
    start = time.time()
    subprocess.run([str(Path(sys.executable).parent / "rasa"), "train", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    took = time.time() - start
    shutil.rmtree(out, ignore_errors=True)
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = {}
    if not args.no_train:
        result["train_seconds"] = round(train_seconds(), 1)
    with running_assistant() as bot:
        result["startup_seconds"] = round(bot.startup_seconds, 1)
        latencies, turns = [], {}
        for _ in range(args.rounds):
            for name, messages in CONVERSATIONS.items():
                sender = f"bench-{uuid.uuid4().hex[:10]}"
                answered_at = None
                for i, text in enumerate(messages, 1):
                    t0 = time.perf_counter()
                    bot.say(sender, text)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    if answered_at is None and bot.slots(sender).get("disposition"):
                        answered_at = i
                turns[name] = answered_at
        result["turns"] = len(latencies)
        result["latency_ms_p50"] = round(statistics.median(latencies), 1)
        result["latency_ms_p95"] = round(pct(latencies, 95), 1)
        result["rasa_rss_mb"] = round(rss_mb(bot.rasa.pid), 0)
        result["action_server_rss_mb"] = round(rss_mb(bot.actions.pid), 0)
        result["user_turns_to_answer"] = turns
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:24} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
