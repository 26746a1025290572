"""Command line: python -m actions.triage {assess,explain} FILE|-

Exit status: 0 on success, 2 with a one-line message on a bad intake or unreadable input.
"""
from __future__ import annotations

import argparse
import json
import sys

from .engine import assess
from .explain import explain
from .intake import IntakeError


def _read(path: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntakeError(f"malformed JSON in {path}: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:  # a >4300-digit number; nesting too deep
        raise IntakeError(f"malformed JSON in {path}: {exc}"[:200]) from exc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actions.triage",
        description="Assess a home-microneedling intake (see intake-contract.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("assess", "print the assessment as JSON"),
                       ("explain", "print the assessment as a short human-readable summary")):
        p = sub.add_parser(name, help=text)
        p.add_argument("file", help="intake JSON file, or - for standard input")
    args = parser.parse_args(argv)
    try:
        assessment = assess(_read(args.file))
    except IntakeError as exc:
        print(f"error: invalid intake: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    if args.command == "assess":
        print(json.dumps(assessment, indent=2, ensure_ascii=False))
    else:
        print(explain(assessment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
