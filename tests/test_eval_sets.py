"""The evaluation sets are never trained on: no case of any of them, nor a near-copy of one
(a training example sharing half or more of its words with it), is in data/nlu.yml.

Sets: the held-out NLU sets (tests/nlu/), the blind sets written by helpers who never saw the
training data (eval/blind/ … eval/blind8/), the real public texts (eval/real/) and the development set
(eval/dev/, tuned on by reading, never trained on)."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SETS = sorted(str(p.relative_to(ROOT)) for p in
              [*ROOT.glob("tests/nlu/heldout*.yml"), *ROOT.glob("eval/*/*.yml")])


def words(text: str) -> set:
    return set(re.findall(r"[a-z0-9']+", str(text).lower()))


def texts_of(path: str):
    data = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    for key in ("cases", "messages", "texts"):
        for c in data.get(key) or []:
            yield c["text"]
    for person in data.get("people") or []:
        yield person["opening"]
        for value in (person.get("say") or {}).values():
            if isinstance(value, str):
                yield value
        for event in person.get("script") or []:
            yield event["text"]


def training_examples():
    text = (ROOT / "data" / "nlu.yml").read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"^    - (.*)$", text, re.M)]


def near_copies(held, training):
    """Pairs sharing half their words or more (Jaccard >= 0.5). Short answers of three words
    or fewer ("yes that's fine") are what everyone says: they are compared exactly only."""
    out = []
    held_words = [(h, words(h)) for h in held]
    for t in training:
        tw = words(t)
        if len(tw) < 4:
            continue
        for h, hw in held_words:
            if len(hw) >= 4 and len(tw & hw) / len(tw | hw) >= 0.5:
                out.append((t, h))
    return out


def test_every_evaluation_set_is_listed():
    assert {"eval/blind/messages.yml", "eval/blind/conversations.yml",
            "eval/blind2/messages.yml", "eval/blind2/conversations.yml",
            "eval/blind3/messages.yml", "eval/blind3/conversations.yml",
            "eval/blind4/messages.yml", "eval/blind4/conversations.yml",
            "eval/blind5/messages.yml", "eval/blind5/conversations.yml",
            "eval/blind6/messages.yml", "eval/blind6/conversations.yml",
            "eval/blind7/messages.yml", "eval/blind7/conversations.yml",
            "eval/blind8/messages.yml", "eval/blind8/conversations.yml",
            "eval/real/texts.yml"} <= set(SETS)


@pytest.mark.parametrize("path", SETS)
def test_no_case_nor_a_near_copy_of_one_is_trained_on(path):
    training = training_examples()
    held = list(texts_of(path))
    assert held
    # answers of three words or fewer ("no", "i don't know", "fine by me") are what
    # everyone says: not a leak
    exact = {t.lower().strip() for t in training} & {h.lower().strip() for h in held
                                                     if len(words(h)) >= 4}
    assert not exact
    assert not near_copies(held, training)[:10]


def test_the_near_copy_check_catches_a_near_copy():
    assert near_copies(["I'm on Eliquis for my heart"], ["im on eliquis for my heart lol"])
    assert near_copies(["hello there, quick question"], ["hello there, a quick question"])
    assert not near_copies(["I'm on Eliquis for my heart"], ["what depth for my forehead?"])
