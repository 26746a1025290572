"""python -m actions.nlu {build,extract}

build    Build the project's spaCy pipeline from the knowledge base's lexicon into
         models/spacy_pipeline (Rasa's SpacyNLP loads it by path).
extract  Parse messages with the trained Rasa model and print, one JSON object per message,
         the intent and the facts the assistant takes from it (contract vocabulary). Messages
         come from the arguments, or one per line on standard input. The same code path as the
         conversation: Rasa's parse, then actions.nlu.facts.
"""
import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[2]


def _build(args) -> int:
    from actions.nlu import spacy_pipeline
    path = spacy_pipeline.save(Path(args.output))
    print(f"built spaCy pipeline at {path}")
    return 0


def load_agent(model: str = ""):
    logging.disable(logging.WARNING)
    import structlog  # Rasa's own debug events (they carry the message text) stay quiet
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from rasa.core.agent import Agent
    from rasa.model import get_latest_model
    path = model or get_latest_model(str(ROOT / "models"))
    if not path:
        raise SystemExit("error: no trained model in models/ (run: make train)")
    cwd = os.getcwd()
    os.chdir(ROOT)  # config.yml names the spaCy pipeline by a path relative to the project
    try:
        return Agent.load(path)
    finally:
        os.chdir(cwd)


async def parse_all(agent, texts):
    from actions.nlu.facts import facts_from_message, to_contract
    out = []
    for text in texts:
        text = text[:5000]
        parsed = await agent.parse_message(text)
        intent = (parsed.get("intent") or {}).get("name")
        entities = parsed.get("entities") or []
        update = facts_from_message(entities, intent=intent, text=text)
        out.append({"text": text, "intent": intent,
                    "confidence": round(float((parsed.get("intent") or {}).get("confidence") or 0), 3),
                    **to_contract(update)})
    return out


def _extract(args) -> int:
    texts = args.messages or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    agent = load_agent(args.model)
    for row in asyncio.run(parse_all(agent, texts)):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.nlu")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the spaCy pipeline from the knowledge base")
    b.add_argument("--output", default=str(ROOT / "models" / "spacy_pipeline"))
    e = sub.add_parser("extract", help="show what the assistant understands from messages")
    e.add_argument("messages", nargs="*", help="messages (default: one per line on stdin)")
    e.add_argument("--model", default="", help="model archive (default: newest in models/)")
    args = parser.parse_args(argv)
    return _build(args) if args.command == "build" else _extract(args)


if __name__ == "__main__":
    sys.exit(main())
