"""The project's own spaCy pipeline, generated from the knowledge base's lexicon.

No pretrained spaCy model can be downloaded here, so the pipeline is: blank English, an
entity ruler whose patterns come from `lexicon` in knowledge_base.yml, and `fact_context`,
which reads negation, past/ongoing use, hypotheticals and numbers (ages, needle lengths,
durations) around each mention. `python -m actions.nlu build` saves it under models/ and
Rasa's SpacyNLP loads it by path. Importing this module registers the component, which is
why the Rasa component that reads its output imports it.
"""


import bisect
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from actions.triage.engine import default_kb

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "models" / "spacy_pipeline"

SECTION_LABELS = {"facts": "FACT", "concerns": "CONCERN", "areas": "AREA", "devices": "DEVICE",
                  "procedures": "PROCEDURE", "red_flags": "RED_FLAG", "skin_types": "SKIN_TYPE"}

WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "a": 1, "an": 1, "couple": 2, "few": 3,
    "several": 3, "half": 0.5, "quarter": 0.25,
}
UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "wk": 7, "wks": 7, "month": 30.4375,
             "months": 30.4375, "mo": 30.4375, "mos": 30.4375, "mth": 30.4375, "mths": 30.4375,
             "year": 365.25, "years": 365.25, "yr": 365.25, "yrs": 365.25}
MM_UNITS = {"mm", "millimetre", "millimetres", "millimeter", "millimeters", "mil", "mils"}
RELATIVE_DAYS = {("yesterday",): 1, ("today",): 0, ("last", "week"): 7, ("last", "month"): 30.4375,
                 ("last", "year"): 365.25, ("this", "week"): 3, ("this", "month"): 15,
                 ("the", "other", "day"): 3, ("recently",): 7, ("a", "while", "ago"): 365.25}
AGE_AFTER = {"years", "year", "yo", "y/o", "yrs", "yr", "y.o.", "y.o"}
AGE_BEFORE = {"age", "aged", "i'm", "im", "am"}

for _name, _default in (("negated", False), ("negation_cue", None), ("past", False),
                        ("uncertain", False),
                        ("hypothetical", False), ("ago_days", None), ("value", None)):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=_default)
if not Doc.has_extension("rest_false"):
    Doc.set_extension("rest_false", default=False)


def _phrases(items: Iterable[str], tokenizer=None) -> List[Tuple[str, ...]]:
    """Cue phrases as token tuples, split the way the pipeline splits text ("don't" -> do, n't)."""
    out = []
    for p in items:
        p = p.lower().replace("’", "'")
        out.append(tuple(t.lower_ for t in tokenizer(p)) if tokenizer else tuple(p.split()))
    return out


def _tokens_text(doc: Doc) -> List[str]:
    return [t.lower_.replace("’", "'") for t in doc]


def _find(words: List[str], phrases: List[Tuple[str, ...]], start: int, end: int):
    """Yield (i, phrase) for each phrase occurring in words[start:end]."""
    for i in range(max(start, 0), min(end, len(words))):
        for p in phrases:
            if tuple(words[i:i + len(p)]) == p and i + len(p) <= end:
                yield i, p


def _positions(words: List[str], phrases: List[Tuple[str, ...]]) -> List[Tuple[int, int]]:
    """(start, end) of every occurrence of the phrases, found in one pass over the text."""
    by_first: Dict[str, List[Tuple[str, ...]]] = {}
    for p in phrases:
        by_first.setdefault(p[0], []).append(p)
    out = []
    for i, w in enumerate(words):
        for p in by_first.get(w, ()):
            if tuple(words[i:i + len(p)]) == p:
                out.append((i, i + len(p)))
    return out


_NUM = r"(\d+(?:[.,]\d+)?|[.,]\d+)"


def _number_at(words: List[str], i: int) -> Tuple[Optional[float], int]:
    """Parse a number starting at words[i]: digits ("1.5", "0,5", ".5"), words ('twenty nine',
    'twenty-nine', 'a couple of', 'half a', 'a quarter of a'). Returns (value, index after
    it) or (None, i)."""
    w = words[i] if i < len(words) else ""
    m = re.fullmatch(_NUM, w)
    if m:
        return float(m.group(1).replace(",", ".")), i + 1
    m = re.fullmatch(_NUM + r"(mm|yo|y/o|months?|yrs?|years?|days?|weeks?|wks?|mos?)", w)
    if m:  # "1mm" when the tokenizer kept it whole; the unit is handled by the caller
        return float(m.group(1).replace(",", ".")), i + 1
    if w in WORD_NUMBERS:
        v, j = WORD_NUMBERS[w], i + 1
        if w in ("couple", "few", "several") and j < len(words) and words[j] == "of":
            j += 1
        if w in ("a", "an") and j < len(words) and words[j] in ("couple", "few", "half", "quarter"):
            return _number_at(words, j)
        if w in ("half", "quarter"):
            if j < len(words) and words[j] == "of":
                j += 1
            if j < len(words) and words[j] in ("a", "an"):
                j += 1
        if v >= 20 and j < len(words):
            k = j + 1 if words[j] == "-" else j
            if k < len(words) and words[k] in WORD_NUMBERS and WORD_NUMBERS[words[k]] < 10 \
                    and words[k] not in ("a", "an"):
                v, j = v + WORD_NUMBERS[words[k]], k + 1
        if w in ("a", "an") and not (j < len(words) and (words[j] in UNIT_DAYS or words[j] in MM_UNITS)):
            return None, i
        return v, j
    return None, i


@Language.factory("fact_context", default_config={"cues": {}})
def make_fact_context(nlp: Language, name: str, cues: Dict[str, List[str]]):
    return FactContext(cues, nlp.tokenizer)


class FactContext:
    """Marks each lexicon mention as negated / past / hypothetical, links durations to them
    and adds AGE, NEEDLE_MM and DURATION entities. Cue words are located once per message,
    so the cost grows with the length of the message, not its square."""

    def __init__(self, cues: Dict[str, List[str]], tokenizer=None):
        self.cues = {k: _phrases(v, tokenizer) for k, v in cues.items()}

    def __call__(self, doc: Doc) -> Doc:
        words = _tokens_text(doc)
        ents = list(doc.ents)
        taken = set()
        for e in ents:
            taken.update(range(e.start, e.end))
        at = {k: _positions(words, v) for k, v in self.cues.items()}
        # "I don't know", "not sure": not a negation of what follows
        unsure = {i for a, b in at.get("dont_know", []) for i in range(a, b)}
        at["negation"] = [(a, b) for a, b in at.get("negation", []) if a not in unsure]
        # "no, just diabetes": an answer word, not a negation of what follows
        at["negation"] = [(a, b) for a, b in at["negation"]
                          if not (b < len(words) and words[b] in (",", ".", "!")
                                  and words[a] in ("no", "nope", "none"))]
        breaks = sorted({a for a, _ in at.get("clause_break", [])})
        # a comma followed by a new statement ("not pregnant, on accutane") ends a clause too
        resume = {a for a, _ in at.get("resume_after_comma", [])}
        breaks = sorted(set(breaks) | {i for i, w in enumerate(words)
                                       if w == "," and i + 1 in resume})
        numbers = self._numbers(doc, words, taken)
        doc.ents = sorted(ents + numbers, key=lambda e: e.start)
        durations = [e for e in doc.ents if e.label_ == "DURATION"]
        for ent in doc.ents:
            if ent.label_ in ("AGE", "NEEDLE_MM", "DURATION"):
                continue
            k = bisect.bisect_left(breaks, ent.start)
            lo = breaks[k - 1] + 1 if k > 0 else 0
            k2 = bisect.bisect_left(breaks, ent.end)
            hi = breaks[k2] if k2 < len(breaks) else len(words)
            self._negation(ent, words, lo, hi, at)
            ent._.past = any(lo <= a < hi and not ent.start <= a < ent.end
                             for a, _ in at.get("past", []))
            if ent._.past and any(lo <= a < hi for a, _ in at.get("ongoing", [])):
                ent._.past = False  # "I've had eczema since I was a kid": still there
            ent._.hypothetical = any(lo <= a < ent.start for a, _ in at.get("hypothetical", []))
            # "I don't know about blood thinners": neither yes nor no
            ent._.uncertain = any(lo <= a < hi for a, _ in at.get("dont_know", []))
            near = [d for d in durations if lo <= d.start < hi]
            if near:
                d = min(near, key=lambda d: (d.start < ent.start, abs(d.start - ent.end)))
                ent._.ago_days = d._.value
                ent._.past = True
        doc._.rest_false = bool(at.get("rest_false"))
        return doc

    def _negation(self, ent: Span, words: List[str], lo: int, hi: int, at) -> None:
        # A cue before the mention, within its clause and not cut off by a new subject
        # ("I'm not pregnant, and I have eczema": 'eczema' is not negated).
        subjects = {a for a, _ in at.get("new_subject", [])}
        for a, b in sorted(at.get("negation", []), reverse=True):
            if not (lo <= a and b <= ent.start):
                continue
            if not any(b <= k < ent.start for k in subjects):
                ent._.negated, ent._.negation_cue = True, " ".join(words[a:b])
            return
        # "pregnant: no", "keloids - none"
        j = ent.end
        while j < hi and words[j] in (":", "-", "?", "=", "–", ","):
            j += 1
        for p in self.cues.get("negation_after", []):
            after = j + len(p)
            # the cue must close the statement: "pregnant: no", "keloids - none." but not
            # "Plavix, not warfarin" (there "not" belongs to what follows)
            closes = after >= len(words) or not words[after][:1].isalnum()
            if tuple(words[j:after]) == p and (j > ent.end or after == len(words)) and closes:
                ent._.negated, ent._.negation_cue = True, " ".join(p)
                return

    def _numbers(self, doc: Doc, words: List[str], taken: set) -> List[Span]:
        out: List[Span] = []
        i = 0
        while i < len(words):
            if i in taken:
                i += 1
                continue
            value, j = _number_at(words, i)
            if value is None:
                i += 1
                continue
            tail = re.sub(r"^" + _NUM, "", words[j - 1]) if re.match(_NUM, words[j - 1]) else ""
            unit = tail or (words[j] if j < len(words) else "")
            k = j if tail else j + 1
            span: Optional[Span] = None
            if unit in MM_UNITS and 0 <= value <= 10:
                span = Span(doc, i, k, label="NEEDLE_MM")
                span._.value = round(value, 2)
            elif unit in UNIT_DAYS:
                end = k
                ago = end < len(words) and words[end] in ("ago", "back", "since", "before")
                if ago:
                    end += 1
                if ago or (i > 0 and words[i - 1] in ("last", "past", "over")):
                    span = Span(doc, i, end, label="DURATION")
                    span._.value = round(value * UNIT_DAYS[unit], 2)
                elif unit in ("years", "year", "yrs", "yr") and k < len(words) and words[k] == "old":
                    span = Span(doc, i, k + 1, label="AGE")
                    span._.value = value
            elif unit == "y" and words[k:k + 2] == ["/", "o"]:  # "28 y/o"
                span = Span(doc, i, k + 2, label="AGE")
                span._.value = value
            elif unit in AGE_AFTER or (unit == "old"):
                span = Span(doc, i, k, label="AGE")
                span._.value = value
            elif (i > 0 and words[i - 1] in AGE_BEFORE or (i > 1 and words[i - 2:i] in (["i", "'m"], ["i", "m"]))) \
                    and 10 <= value <= 120 and value == int(value):
                span = Span(doc, i, j, label="AGE")
                span._.value = value
            if span is not None and not any(t in taken for t in range(span.start, span.end)):
                out.append(span)
                taken.update(range(span.start, span.end))
                i = span.end
            else:
                i = j if j > i else i + 1
        # Relative expressions: "last week", "yesterday"
        for phrase, days in RELATIVE_DAYS.items():
            for i, p in _find(words, [phrase], 0, len(words)):
                if any(t in taken for t in range(i, i + len(p))):
                    continue
                span = Span(doc, i, i + len(p), label="DURATION")
                span._.value = days
                out.append(span)
                taken.update(range(i, i + len(p)))
        return out


def patterns_from_lexicon(lexicon: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Entity-ruler patterns from the knowledge base's lexicon (one place for every word)."""
    out = []
    for section, label in SECTION_LABELS.items():
        for ident, phrases in lexicon[section].items():
            for phrase in phrases:
                out.append({"label": label, "pattern": str(phrase).lower().replace("’", "'"),
                            "id": str(ident)})
    for ident, key in (("true", "controlled"), ("false", "uncontrolled")):
        for phrase in lexicon["cues"][key]:
            out.append({"label": "CONTROL", "pattern": phrase.lower(), "id": ident})
    return out


def build(kb=None) -> Language:
    kb = kb or default_kb()
    lexicon = kb.raw["lexicon"]
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER",
                                                 "overwrite_ents": True})
    ruler.add_patterns(patterns_from_lexicon(lexicon))
    nlp.add_pipe("fact_context", config={"cues": lexicon["cues"]})
    nlp.meta["name"] = "microneedling_triage"
    nlp.meta["version"] = kb.version.replace(".", "-") and "1.0.0"
    nlp.meta["description"] = f"Generated from knowledge base {kb.version}"
    return nlp


def save(path: Path = DEFAULT_DIR, kb=None) -> Path:
    nlp = build(kb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(path)
    return path


def load(path: Path = DEFAULT_DIR) -> Language:
    return spacy.load(path)
