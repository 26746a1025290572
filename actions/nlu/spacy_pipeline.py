"""The project's own spaCy pipeline, generated from the knowledge base's lexicon.

No pretrained spaCy model can be downloaded here, so the pipeline is built from parts that
install from PyPI, and the knowledge base's words:

1. `sentencizer` (spaCy) — sentence boundaries, the outer limit of every scope;
2. `lemmatizer` (spaCy, lookup tables from `spacy-lookups-data`) — dictionary forms, so
   "rollers", "swollen" and "blisters" meet "roller", "swell" and "blister";
3. `fact_norm` — each token's NORM: its dictionary form, or, for a word no English word list
   knows ("acutane", "eliqus", "xeralto"), the closest lexicon word (rapidfuzz), so typos in
   brand names are still found;
4. `entity_ruler` (exact phrases of the lexicon) and `lemma_ruler` (the same phrases by NORM,
   plus the red-flag word pairs: "my mouth is blowing up", "throat feels like it's closing");
5. `fact_scope` — medspaCy's ConText with rules generated from the lexicon's cues: negation,
   hedges (unknown), hypotheticals, an explicit end ("came off"), a vague past ("as a teen"),
   ongoing use ("since", "I'm on"), another person ("my mum"), and where scopes end;
6. `fact_context` — numbers (ages "44M", needle lengths "half a mil", durations "3 weeks ago",
   dates "in March", "at Christmas" computed from today), the event each time phrase belongs
   to, and places named for a history ("cold sores round my mouth") that are not treatment
   areas.

`python -m actions.nlu build` saves it under models/ and Rasa's SpacyNLP loads it by path.
Importing this module registers the components, which is why the Rasa component that reads
its output imports it.
"""


import bisect
import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.tokens import Doc, Span, Token

from actions.nlu import statistical as _statistical  # noqa: F401 (registers fact_statistical)
from actions.triage.engine import default_kb

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "models" / "spacy_pipeline"

SECTION_LABELS = {"facts": "FACT", "concerns": "CONCERN", "areas": "AREA", "devices": "DEVICE",
                  "procedures": "PROCEDURE", "red_flags": "RED_FLAG", "skin_types": "SKIN_TYPE"}
NUMBER_LABELS = ("AGE", "NEEDLE_MM", "DURATION", "NUMBER")

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
DAYS_PER_MONTH = UNIT_DAYS["month"]
MM_UNITS = {"mm", "millimetre", "millimetres", "millimeter", "millimeters", "mil", "mils", "ml"}
RELATIVE_DAYS = {("yesterday",): 1, ("today",): 0, ("last", "week"): 7, ("last", "month"): 30.4375,
                 ("last", "year"): 365.25, ("this", "week"): 3, ("this", "month"): 15,
                 ("the", "other", "day"): 3, ("recently",): 7, ("a", "while", "ago"): 365.25,
                 ("a", "while", "back"): 365.25, ("ages", "ago"): 730.5, ("last", "night"): 1,
                 ("this", "morning"): 0, ("tonight",): 0, ("couple", "of", "days", "ago"): 2}
# ... of which these give no date a rule could count on ("stopped accutane a while ago": when
# exactly is asked, never taken as a year)
VAGUE_DAYS = {("a", "while", "ago"), ("a", "while", "back"), ("ages", "ago")}
DECADES = {"teens": 13, "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50,
           "sixties": 60, "seventies": 70, "eighties": 80, "nineties": 90}
AGO_WORDS = ("ago", "back", "before", "earlier", "prior")
AGE_AFTER = {"years", "year", "yo", "y/o", "yrs", "yr", "y.o.", "y.o", "yrs old", "m", "f",
             "male", "female", "man", "woman", "guy", "girl", "lady"}
# "N years" is an age after one of these (or at the start), or before "old", "woman"...
AGE_YEARS_BEFORE = {"", "i'm", "im", "am", "have", "has", "aged", "age", "is", ",", ".", "a", "i",
                    "now", "turned", "just", "man", "woman", "lady", "male", "female", "guy",
                    "girl", "m", "f"}
# a bare number is never an age with these units after it or these words before it ("for
# 15 min", "a fever of 39", "platelets around 60")
NOT_AGE_UNITS = {"%", "x", "times", "minutes", "mins", "min", "minute", "seconds", "secs", "sec",
                 "hours", "hrs", "hr", "hour", "pm", "am", "degrees", "mg", "mcg", "ml", "units",
                 "iu", "sessions", "c", "f", "kg", "lbs", "pins", "needles", "pin"}
NOT_AGE_BEFORE = {"of", "around", "about", "at", "for", "like", "approx", "approximately", "temp",
                  "temperature", "fever", "dose", "than", "to", "from", "by", "nearly", "almost"}
AGE_BEFORE = {"age", "aged", "i'm", "im", "am", "m", "f", "male", "female", "now", "turned"}
MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
          "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
          "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
          "nov": 11, "december": 12, "dec": 12}
# Month names that are also ordinary words count only after one of these ("in May").
MONTH_LEADS = {"in", "since", "last", "from", "until", "till", "til", "of", "early", "late",
               "mid", "end", "beginning", "start", "around", "about", "back"}
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
            "sunday": 6}
HOLIDAYS = {("christmas",): (12, 25), ("xmas",): (12, 25), ("new", "year"): (1, 1),
            ("new", "years"): (1, 1), ("easter",): (4, 5), ("halloween",): (10, 31),
            ("thanksgiving",): (11, 26), ("summer",): (7, 15), ("winter",): (1, 15),
            ("spring",): (4, 15), ("autumn",): (10, 15), ("fall",): (10, 15)}

SPAN_FLAGS = ("negated", "uncertain", "hypothetical", "stopped", "historical", "ongoing",
              "family", "site", "compared", "statistical", "not_goal")
for _name in SPAN_FLAGS:
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=False)
for _name, _default in (("negation_cue", None), ("ago_days", None), ("value", None),
                        ("since_days", None), ("past", False)):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=_default)
if not Doc.has_extension("rest_false"):
    Doc.set_extension("rest_false", default=False)
if not Doc.has_extension("unexplained"):
    Doc.set_extension("unexplained", default=[])

# cue lists whose words explain nothing by themselves (see PostContext._unexplained)
NOT_VOCABULARY = ("site_words", "others_possessive", "tag_question", "tag_question_not_after", "not_goal_adverbs",
                  "hedge_closing_not_before")
# ConText categories: the knowledge base's cue list -> (category, direction, max scope).
CONTEXT_CUES = {
    "negation": ("NEGATED_EXISTENCE", "FORWARD", 8),
    "hedge": ("POSSIBLE_EXISTENCE", "FORWARD", 8),
    "hedge_after": ("POSSIBLE_EXISTENCE", "BACKWARD", 5),
    "hypothetical": ("HYPOTHETICAL", "FORWARD", None),
    "hypothetical_after": ("HYPOTHETICAL", "BACKWARD", 8),
    "stopped": ("STOPPED", "FORWARD", 5),
    "stopped_after": ("STOPPED", "BACKWARD", 8),
    "past": ("HISTORICAL", "FORWARD", 5),
    "past_after": ("HISTORICAL", "BACKWARD", 6),
    "ongoing": ("ONGOING", "FORWARD", 5),
    "ongoing_after": ("ONGOING", "BACKWARD", 6),
    "family": ("FAMILY", "FORWARD", 12),
    "comparison": ("COMPARISON", "FORWARD", 4),
    "clause_break": ("TERMINATE", "TERMINATE", None),
    "pseudo": ("PSEUDO", "PSEUDO", None),
}
# ongoing cues too weak to stand against an explicit past or for a non-medicine
WEAK_ONGOING = (["on"], ["take"], ["takes"], ["i", "take"], ["taking"])
# words that open a clause of its own (a new subject), unlike the next item of a list
CLAUSE_SUBJECTS = {"it", "it's", "its", "i", "i'm", "im", "my", "the", "this", "that", "now",
                   "there", "there's", "she", "he", "they", "we", "which", "and now", "but"}
SPAN_ATTRS = {"NEGATED_EXISTENCE": {"negated": True}, "POSSIBLE_EXISTENCE": {"uncertain": True},
              "HYPOTHETICAL": {"hypothetical": True}, "STOPPED": {"stopped": True},
              "HISTORICAL": {"historical": True}, "ONGOING": {"ongoing": True},
              "FAMILY": {"family": True}, "COMPARISON": {"compared": True}}


def _clean(text: str) -> str:
    return str(text).lower().replace("’", "'").replace("‘", "'")


def _phrases(items: Iterable[str], tokenizer=None) -> List[Tuple[str, ...]]:
    """Cue phrases as token tuples, split the way the pipeline splits text ("don't" -> do, n't)."""
    out = []
    for p in items:
        p = _clean(p)
        out.append(tuple(t.lower_ for t in tokenizer(p)) if tokenizer else tuple(p.split()))
    return out


def _tokens_text(doc: Doc) -> List[str]:
    return [_clean(t.lower_) for t in doc]


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
        if p:
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
    if w == "point" and i + 1 < len(words) and words[i + 1] in WORD_NUMBERS \
            and WORD_NUMBERS[words[i + 1]] < 10 and words[i + 1] not in ("a", "an", "half", "quarter"):
        digits, j = "", i + 1  # "point two five" -> 0.25
        while j < len(words) and words[j] in WORD_NUMBERS and WORD_NUMBERS[words[j]] < 10 \
                and words[j] not in ("a", "an", "half", "quarter", "couple", "few", "several"):
            digits += str(int(WORD_NUMBERS[words[j]]))
            j += 1
        return float("0." + digits), j
    m = re.fullmatch(_NUM, w)
    if m:
        return float(m.group(1).replace(",", ".")), i + 1
    m = re.fullmatch(_NUM + r"(mm|ml|yo|y/o|months?|yrs?|years?|days?|weeks?|wks?|mos?|[mf])", w)
    if m:  # "1mm" or "44m" when the tokenizer kept it whole; the unit is handled by the caller
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


def today_() -> _dt.date:
    """The day dates are counted from ("in August", "on the 25th"): today, or TRIAGE_TODAY
    (YYYY-MM-DD) when set, so that a set written on a given day is measured from that day."""
    fixed = os.environ.get("TRIAGE_TODAY", "").strip()
    if fixed:
        try:
            return _dt.date.fromisoformat(fixed)
        except ValueError:
            pass
    return _dt.date.today()


def _days_since(month: int, day: int, year: Optional[int] = None,
                today: Optional[_dt.date] = None) -> float:
    """Days from the last <month>/<day> (of `year` if given) to today."""
    today = today or today_()
    if year is None:
        year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    try:
        then = _dt.date(year, month, min(day, 28))
    except ValueError:
        return 0.0
    return float(max((today - then).days, 0))


# --------------------------------------------------------------------------- fact_norm

@Language.factory("fact_norm", default_config={"keep": [], "targets": [], "protected": []})
def make_fact_norm(nlp: Language, name: str, keep: List[str], targets: List[str],
                   protected: List[str]):
    return FactNorm(nlp, keep, targets, protected)


class FactNorm:
    """Sets each token's NORM to its dictionary form (the lookup lemmatizer's), except the
    words the lexicon keeps as they are ("nursing" is not "nurse"); a word that no English
    word list knows and that is close to a lexicon word ("acutane") gets that word's form."""

    def __init__(self, nlp: Language, keep: Sequence[str], targets: Sequence[str],
                 protected: Sequence[str] = ()):
        self.nlp = nlp
        self.keep = {_clean(w) for w in keep}
        self.targets = sorted({_clean(t) for t in targets})
        # common English words a few edits from a lexicon word ("forever"/"fever",
        # "filled"/"filler"): never corrected
        self.protected = set(protected)
        self._cache: Dict[str, str] = {}

    def _lemma(self, word: str) -> str:
        try:
            table = self.nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
            return str(table.get(word, word))
        except (KeyError, ValueError):
            return word

    def _correct(self, word: str) -> Optional[str]:
        """The lexicon word within a few edits (adjacent swaps count as one: optimal string
        alignment distance): one for 5-6 letters, two for 7-9, three for longer; same first
        letter, closest wins."""
        if word in self._cache:
            return self._cache[word] or None
        if word in self.targets:
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA
        limit = _edit_limit(word)
        candidates = [t for t in self.targets if t[0] == word[0] and abs(len(t) - len(word)) <= limit]
        best = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit) \
            if candidates else None
        fixed = best[0] if best else ""
        if len(self._cache) < 50_000:
            self._cache[word] = fixed
        return fixed or None

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            low = _clean(token.lower_)
            if len(low) > 3 and re.search(r"(.)\1\1", low):  # "sooo", "plsss", "hiii"
                low = re.sub(r"(.)\1{2,}", r"\1", low)
            if low in self.keep:
                token.norm_ = low
                continue
            norm = _clean(token.lemma_) if token.lemma_ and token.lower_ == low else low
            if self.targets and len(low) >= 5 and low.isalpha() and low not in self.protected \
                    and low not in STOP_WORDS:
                fixed = self._correct(low)
                if fixed:  # the corrected word's own dictionary form, as its pattern has
                    norm = fixed if fixed in self.keep else self._lemma(fixed)
            token.norm_ = norm
        return doc


# --------------------------------------------------------------------------- fact_scope

@Language.factory("fact_scope", default_config={"rules": []})
def make_fact_scope(nlp: Language, name: str, rules: List[Dict[str, Any]]):
    """medspaCy's ConText with the project's rules (generated from the lexicon's cues)."""
    from medspacy.context import ConText, ConTextRule
    from medspacy.context import context_modifier
    # medspaCy 1.1.5's overlap test misses a span that contains the other one, so a scope
    # cut short by max_scope is never ended by "but": the plain interval test fixes it
    context_modifier.tuple_overlaps = _overlaps
    context = ConText(nlp, name=name, rules=None, span_attrs=SPAN_ATTRS,
                      prune_on_target_overlap=True, prune_on_modifier_overlap=True)
    context.add([ConTextRule(**r) for r in rules])
    return context


def _overlaps(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def context_rules(cues: Dict[str, List[str]], tokenizer) -> List[Dict[str, Any]]:
    """ConText rules from the lexicon's cue lists. Literal phrases are matched on the
    lowercased text; a comma followed by a new statement ("not pregnant, on accutane") ends a
    scope too."""
    rules: List[Dict[str, Any]] = []
    for key, (category, direction, scope) in CONTEXT_CUES.items():
        after = set(map(_clean, cues.get(f"{key}_after", []))) \
            if direction == "FORWARD" and f"{key}_after" in CONTEXT_CUES else set()
        for phrase in cues.get(key, []):
            if direction == "BACKWARD" and key.endswith("_after") \
                    and _clean(phrase) in set(map(_clean, cues.get(key[:-6], []))):
                direction_here = "BIDIRECTIONAL"  # in both lists: looks both ways
            else:
                direction_here = direction
            if _clean(phrase) in after:
                continue  # written as the backward rule, which looks both ways
            words = [t.lower_ for t in tokenizer(_clean(phrase))]
            if not words:
                continue
            rule: Dict[str, Any] = {"literal": f"{key}:{phrase}", "category": category,
                                    "direction": direction_here,
                                    "pattern": [{"LOWER": w} for w in words]}
            if scope:
                rule["max_scope"] = scope
            if words[-1] == "-" and direction_here == "FORWARD":
                rule["max_scope"] = 1  # a prefix ("post-accutane") binds the next word only
            rules.append(rule)
    resume = sorted({w for p in cues.get("resume_after_comma", []) for w in _clean(p).split()})
    # "hi, my mum wants a roller for her neck": a person named after a comma is a new subject,
    # so the comma rule below must not swallow "my" (ConText keeps the longer of two overlapping
    # cues): the same cue, comma included
    for phrase in cues.get("family", []):
        words = [t.lower_ for t in tokenizer(_clean(phrase))]
        if len(words) >= 2 and words[0] in resume:
            rules.append({"literal": f"family:, {phrase}", "category": "FAMILY",
                          "direction": "FORWARD", "max_scope": CONTEXT_CUES["family"][2],
                          "pattern": [{"TEXT": {"IN": [",", "-", "–", "/", "&"]}}]
                          + [{"LOWER": w} for w in words]})
    rules.append({"literal": "comma then a new statement", "category": "TERMINATE",
                  "direction": "TERMINATE",
                  "pattern": [{"TEXT": {"IN": [",", "-", "–", "/", "&"]}},
                              {"LOWER": {"IN": resume}}]})
    rules.append({"literal": "comma then a number", "category": "TERMINATE", "direction": "TERMINATE",
                  "pattern": [{"TEXT": {"IN": [",", "-", "–"]}}, {"TEXT": {"REGEX": r"^\d"}}]})
    # an emoji ends a statement as a full stop does ("not pregnant anymore 😅 breastfeeding")
    rules.append({"literal": "emoji", "category": "TERMINATE", "direction": "TERMINATE",
                  "pattern": [{"IS_ASCII": False, "IS_ALPHA": False, "IS_DIGIT": False}]})
    # "no, just diabetes": an answer word before a comma negates nothing after it
    rules.append({"literal": "answer word", "category": "PSEUDO", "direction": "PSEUDO",
                  "pattern": [{"LOWER": {"IN": ["no", "nope", "nah", "none"]}},
                              {"TEXT": {"IN": [",", "!", "-", "–"]}}]})
    return rules


# --------------------------------------------------------------------------- fact_context

@Language.factory("fact_context", default_config={"cues": {}, "vocabulary": [], "medicines": [],
                                                  "untreated": {}, "habits": []})
def make_fact_context(nlp: Language, name: str, cues: Dict[str, List[str]],
                      vocabulary: List[str], medicines: List[str], untreated: Dict[str, List[str]],
                      habits: List[str]):
    return FactContext(cues, nlp.tokenizer, vocabulary, medicines, untreated, habits)


class FactContext:
    """After ConText: "X: no" negations, numbers (AGE, NEEDLE_MM, DURATION, NUMBER), the one
    event each duration belongs to, and places named for a history. Cue words are located once
    per message, so the cost grows with the length of the message, not its square."""

    def __init__(self, cues: Dict[str, List[str]], tokenizer=None, vocabulary=(), medicines=(),
                 untreated: Optional[Dict[str, List[str]]] = None, habits: Iterable[str] = ()):
        self.medicines = set(medicines)
        self.cues = {k: _phrases(v, tokenizer) for k, v in cues.items()}
        untreated = untreated or {}
        self.habits = set(habits)
        self.untreated = _phrases(untreated.get("phrases", []), tokenizer)
        self.untreated_except = set(untreated.get("except", []))
        # (a complaint's words name something the lexicon does not know: "only the patch
        # near my temple" stays unexplained)
        self.known = {w for key, phrases in self.cues.items() if key not in NOT_VOCABULARY
                      for p in phrases for w in p}
        self.known |= {_clean(w) for w in vocabulary}

    def __call__(self, doc: Doc) -> Doc:
        words = _tokens_text(doc)
        ents = list(doc.ents)
        taken = set()
        for e in ents:
            taken.update(range(e.start, e.end))
        at = {k: _positions(words, self.cues.get(k, [])) for k in
              ("clause_break", "rest_false", "negation_after", "dont_know")}
        breaks = sorted({a for a, _ in at["clause_break"]}
                        | {s.start for s in doc.sents}
                        | {i for i, w in enumerate(words) if w in (",", ";", ".", "!", "?")}
                        | {t.i for t in doc if not t.is_ascii and not t.is_alpha and not t.is_digit})
        numbers = self._numbers(doc, words, taken)
        doc.ents = sorted(ents + numbers, key=lambda e: e.start)
        mentions = [e for e in doc.ents if e.label_ not in NUMBER_LABELS]
        for ent in mentions:
            lo, hi = self._clause(ent, breaks, len(words))
            self._own_clause(ent, words, lo)
            if ent._.negated:
                cues = [m.rule.literal.split(":", 1)[-1] for m in getattr(ent._, "modifiers", ())
                        if m.category == "NEGATED_EXISTENCE"]
                ent._.negation_cue = cues[0] if cues else None
            else:
                self._negation_after(ent, words, hi)
        self._tag_questions(doc, words)
        self._closing_hedges(doc, words)
        self._durations(doc, words, breaks)
        self._sites(doc, words, breaks)
        # "a roller for her neck": someone else's place (the cue "her neck" holds the place
        # itself, so ConText cannot scope it)
        others = {p[0] for p in self.cues.get("others_possessive", []) if len(p) == 1}
        for ent in doc.ents:
            if ent.label_ == "AREA" and ent.start > 0 and words[ent.start - 1] in others:
                ent._.family = True
        future = _positions(words, self.cues.get("hypothetical_future", [])
                            + self.cues.get("hypothetical_after", []))
        untreated = bool(_positions(words, self.untreated))
        long_ago = _positions(words, self.cues.get("long_ago", []))
        # a future or someone else's case ("what if", "in case", "people with"), not a plain
        # "if I get ...", which may tell a habit
        imagined = _positions(words, [p for p in self.cues.get("hypothetical_future", [])
                                      if p[0] not in ("if", "should", "when")])
        for ent in mentions:
            if ent._.hypothetical and not imagined and (
                    ent.label_ == "SKIN_TYPE" or ent.ent_id_ in self.habits):
                # a habit is told as "if ... then": "if I get a spot it leaves a dark mark",
                # "I burn if I'm daft about it" (not "what if I get keloids?")
                ent._.hypothetical = False
            if ent.label_ == "RED_FLAG" and any(
                    ent.sent.start <= a < ent.sent.end for a, _ in long_ago):
                # "blisters on my lip a few times as a kid": long before any treatment
                ent._.hypothetical = True
                continue
            if ent.label_ == "RED_FLAG" and untreated and ent.ent_id_ not in self.untreated_except:
                # "bit of a fever, should I wait before starting?": not after a treatment
                ent._.hypothetical = True
                continue
            if ent.label_ == "RED_FLAG" and ent._.hypothetical:
                # a warning sign under "is it bad if ...", "can I use it if ..." is happening;
                # not in a message that speaks of a future or a habit ("what if", "in case",
                # "people with", "if I eat", "haven't done it yet")
                hyps = [m.modifier_span for m in getattr(ent._, "modifiers", ())
                        if m.category == "HYPOTHETICAL"]
                if hyps and not future:
                    ent._.hypothetical = False
            weak = [words[m.modifier_span[0]:m.modifier_span[1]] for m in
                    getattr(ent._, "modifiers", ()) if m.category == "ONGOING"]
            if ent._.ongoing and all(w in WEAK_ONGOING for w in weak) and (
                    ent.ent_id_ not in self.medicines or ent._.historical or ent._.stopped):
                # "on" means use only of a medicine ("herpes on the lip"); a bare "take" says
                # nothing against an explicit past ("when I was young I take the Roacutan")
                ent._.ongoing = False
            if ent._.stopped and ent._.ongoing:
                # "stopped taking aspirin": the end governs the verb right after it
                mods = list(getattr(ent._, "modifiers", ()))
                stops = [m.modifier_span for m in mods if m.category == "STOPPED"]
                goes = [m.modifier_span for m in mods if m.category == "ONGOING"]
                if any(a[1] == b[0] for a in stops for b in goes):
                    ent._.ongoing = False
            ent._.past = bool(ent._.stopped or ent._.historical) and not ent._.ongoing
        doc._.rest_false = bool(at["rest_false"])
        doc._.unexplained = self._unexplained(doc)
        return doc

    @staticmethod
    def _own_clause(ent: Span, words: List[str], lo: int) -> None:
        """A denial or an end in an earlier clause does not reach a mention whose own clause
        has its own subject ("it's", "my", "the"...): in "the redness didn't fade, it's now
        spread onto my neck" the warning sign counts, in "I don't use acids, the peel was at
        the salon" the peel was had. A list ("no fever, swelling or pus") has no subject of
        its own. (An end said later, "swollen for an hour, but it went down", still ends it.)"""
        mods = list(getattr(ent._, "modifiers", ()))
        for category, attr in (("NEGATED_EXISTENCE", "negated"), ("STOPPED", "stopped")):
            if not getattr(ent._, attr):
                continue
            spans = [m.modifier_span for m in mods if m.category == category]
            before = spans and all(end <= lo for _, end in spans)
            if before and any(w in CLAUSE_SUBJECTS for w in words[lo:ent.start]):
                setattr(ent._, attr, False)

    @staticmethod
    def _clause(ent: Span, breaks: List[int], n: int) -> Tuple[int, int]:
        k = bisect.bisect_right(breaks, ent.start)
        lo = breaks[k - 1] if k > 0 else 0
        k2 = bisect.bisect_left(breaks, ent.end)
        hi = breaks[k2] if k2 < len(breaks) else n
        return lo, hi

    def _negation_after(self, ent: Span, words: List[str], hi: int) -> None:
        # "pregnant: no", "keloids - none"; "blood thinners? I don't think so" (a hedge)
        j = ent.end
        while j < len(words) and words[j] in (":", "-", "?", "=", "–", ","):
            j += 1
        if j > ent.end:
            for p in self.cues.get("dont_know", []):
                if tuple(words[j:j + len(p)]) == p:
                    ent._.uncertain = True
                    return
        for p in self.cues.get("negation_after", []):
            after = j + len(p)
            # the cue must close the statement: "pregnant: no", "keloids - none." but not
            # "Plavix, not warfarin" (there "not" belongs to what follows)
            closes = after >= len(words) or not words[after][:1].isalnum()
            # ... and follow the mention after a mark ("pregnant: no") or end the sentence
            # ("sunburn no. cuts no.")
            ends = after >= len(words) or words[after] in (".", "!", ";")
            if tuple(words[j:after]) == p and (j > ent.end or ends) and closes:
                ent._.negated, ent._.negation_cue = True, " ".join(p)
                return

    def _durations(self, doc: Doc, words: List[str], breaks: List[int]) -> None:
        """Each time phrase belongs to one event: the mention just before it in its clause
        ("botox 10 days ago", "stopped accutane in March", "after my heart attack three years
        back" -> the heart attack, not the medicine), else the one right after it ("3 weeks
        ago I had botox")."""
        mentions = [e for e in doc.ents if e.label_ in ("FACT", "PROCEDURE", "EVENT", "RED_FLAG")]
        for d in (e for e in doc.ents if e.label_ == "DURATION"):
            if d.start > 0 and words[d.start - 1] in ("not", "n't", "nt"):
                continue  # "in August this year, not last year": the date corrected away
            since = d.start > 0 and words[d.start - 1] in ("since", "from")
            lo, hi = self._clause(d, breaks, len(words))
            before = [m for m in mentions if m.end <= d.start and m.start >= lo]
            after = [m for m in mentions if m.start >= d.end and m.start < min(hi, d.end + 6)]
            target = before[-1] if before else (after[0] if after else None)
            if target is None and not before:
                # across one comma: "stopped accutane, about 3 months ago"
                earlier = [m for m in mentions if m.end <= d.start and m.end >= d.start - 12
                           and m._.ago_days is None]  # not one already dated
                target = earlier[-1] if earlier else None
            if target is None:
                continue
            if tuple(words[d.start:d.end]) in VAGUE_DAYS and target.ent_id_ in self.medicines:
                target._.historical = True
                continue
            if since or (d.start > 2 and words[d.start - 3:d.start - 1] in (["for", "the"],)):
                target._.since_days = d._.value
                target._.ongoing = True
            else:
                target._.ago_days = d._.value
                if target.label_ == "EVENT":
                    # what happened with the event shares its date ("sunburnt on holiday 4
                    # days ago"); a medicine does not ("Brilinta after my heart attack")
                    for m in before[:-1]:
                        if m.label_ in ("FACT", "PROCEDURE") and m.ent_id_ not in self.medicines \
                                and m._.ago_days is None:
                            m._.ago_days = d._.value

    def _closing_hedges(self, doc: Doc, words: List[str]) -> None:
        """A doubt said after what it doubts ("... itchy from cheap earrings, never been
        tested so I don't know if it's metal"): the nearest fact before it in the sentence
        becomes unsure, unless the doubt is about the others."""
        others = self.cues.get("hedge_closing_not_before", [])
        for a, b in _positions(words, self.cues.get("hedge_closing", [])):
            if any(tuple(words[b:b + len(p)]) == p for p in others):
                continue
            sent = doc[a].sent
            facts = [e for e in doc.ents if e.label_ == "FACT" and e.end <= a
                     and e.start >= sent.start and not e._.negated]
            if facts:
                facts[-1]._.uncertain = True

    def _tag_questions(self, doc: Doc, words: List[str]) -> None:
        """A denial closed by a tag question asks rather than denies ("that's not acne acne
        right", "I don't have rosacea do I??"): its negated mentions become unsure."""
        tags = self.cues.get("tag_question", [])
        agree = set(self.cues.get("tag_question_not_after", []))
        for sent in doc.sents:
            idx = [i for i in range(sent.start, sent.end) if doc[i].is_alpha or "'" in words[i]]
            if not idx:
                continue
            last = idx[-1] + 1
            asked = any(words[i] == "?" for i in range(sent.start, sent.end))
            for tag in tags:
                start = last - len(tag)
                if start <= sent.start or tuple(words[start:last]) != tag:
                    continue
                if not asked and last < len(words) and any(
                        doc[i].is_alpha for i in range(last, len(words))):
                    continue  # no "?" and more words after it: not a tag
                if (words[start - 1],) in agree:
                    continue  # "that's right": agreement
                for ent in doc.ents:  # facts only ("fine if I avoid the lip right??")
                    if ent.label_ == "FACT" and ent._.negated and sent.start <= ent.start < start:
                        ent._.negated = False
                        ent._.uncertain = True
                break

    def _sites(self, doc: Doc, words: List[str], breaks: List[int]) -> None:
        """An area beside a condition, a warning sign, an event or a procedure in the same
        clause, and nearer to it than to any goal, is where that happened, not where the person
        wants to microneedle ("prone to cold sores round my mouth", "mole removed from my
        back", "pus on my cheek")."""
        ents = [e for e in doc.ents if e.label_ not in NUMBER_LABELS]
        inside = {i for e in ents for i in range(e.start, e.end)}
        # words of a skin complaint the lexicon does not name ("itchy patches on my neck",
        # "a nick on my jaw"): a place beside them is where it is, as for a named condition
        complaints = [Span(doc, a, b, label="COMPLAINT")
                      for a, b in _positions(words, self.cues.get("site_words", []))
                      if not any(i in inside for i in range(a, b))]
        fine = {a for a, _ in _positions(words, self.cues.get("not_goal_after", []))}
        between = {p[0] for p in self.cues.get("not_goal_adverbs", []) if len(p) == 1}
        for area in (e for e in ents if e.label_ == "AREA"):
            j = area.end
            while j < len(words) and j - area.end < 3 and j not in fine and words[j] in between:
                j += 1
            if j in fine:
                area._.site = True  # "the rest of my face is (perfectly) fine": not a goal
                area._.not_goal = True  # ("my forehead's fine": taken back)
                continue
            lo, hi = self._clause(area, breaks, len(words))
            others = [e for e in ents + complaints if e is not area and e.label_ != "AREA"
                      and e.start >= lo and e.end <= hi]
            if not others:  # "Only vitiligo, a small patch on my hand": the clause before
                sent = area.sent
                others = [e for e in ents if e.label_ != "AREA" and e.end <= area.start
                          and e.start >= max(sent.start, area.start - 10)
                          and not e._.negated]  # ("not pregnant, want to do my cheeks")
            if not others:
                continue
            if not any(e.label_ == "DEVICE" for e in others) and any(
                    e.label_ == "PROCEDURE" and not e._.hypothetical
                    and (e._.historical or e._.stopped or e._.ago_days is not None)
                    and 0 <= area.start - e.end <= 6 for e in others):
                # "had laser for sun spots on my cheeks 8 days ago" (not "a facelift 4 months
                # ago and want to keep things fresh with a roller on my cheeks")
                area._.site = True
                continue
            near = min(others, key=lambda e: min(abs(e.start - area.end), abs(area.start - e.end)))
            if near.label_ in ("FACT", "RED_FLAG", "EVENT", "PROCEDURE", "COMPLAINT"):
                area._.site = True

    def _unexplained(self, doc: Doc) -> List[str]:
        """Content words that nothing in the lexicon explains ("only the patch near my temple"):
        an answer holding them is not a plain "no" to a checklist."""
        inside = {i for e in doc.ents for i in range(e.start, e.end)}
        known = self.known
        out = []
        for t in doc:
            w = _clean(t.lower_)
            if t.i in inside or not t.is_alpha or len(w) < 4 or w in STOP_WORDS:
                continue
            if w in known or _clean(t.norm_) in known:
                continue
            out.append(w)
        return out

    def _numbers(self, doc: Doc, words: List[str], taken: set) -> List[Span]:
        out: List[Span] = []
        i = 0
        while i < len(words):
            if i in taken:
                i += 1
                continue
            span = self._date_at(doc, words, i)
            if span is None:
                span = self._number_span(doc, words, i)
            if span is not None and not any(t in taken for t in range(span.start, span.end)):
                out.append(span)
                taken.update(range(span.start, span.end))
                i = span.end
            else:
                i += 1
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

    @staticmethod
    def _date_at(doc: Doc, words: List[str], i: int) -> Optional[Span]:
        """Dates: "in March", "since may 2024", "at Christmas", "last summer", "in 2019"."""
        w = words[i]
        prev = words[i - 1] if i > 0 else ""
        day = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", w)
        if day and day.group(2) and prev == "the" and i > 1 and words[i - 2] == "on" \
                and not (i + 1 < len(words) and (words[i + 1] in MONTHS or words[i + 1] == "of")):
            # "tox on the 25th": that day of this month, or of last month if it is still to come
            today = today_()
            n = int(day.group(1))
            if 1 <= n <= 31:
                span = Span(doc, i - 1, i + 1, label="DURATION")
                span._.value = float(today.day - n if n <= today.day
                                     else today.day + (30.4375 - n if n <= 30 else 0))
                return span
        if day and i + 1 < len(words) and words[i + 1] in MONTHS and 1 <= int(day.group(1)) <= 31:
            # "21 November", "3rd March 2025"
            has_year = i + 2 < len(words) and re.fullmatch(r"(19|20)\d\d", words[i + 2])
            span = Span(doc, i, i + (3 if has_year else 2), label="DURATION")
            span._.value = _days_since(MONTHS[words[i + 1]], min(int(day.group(1)), 28),
                                       int(words[i + 2]) if has_year else None)
            return span
        year_at = i + 1 if i + 1 < len(words) and re.fullmatch(r"(19|20)\d\d", words[i + 1]) else None
        day_before = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", words[i - 2] if i > 1 and prev == "of"
                                  else prev)  # "the 21st of November", "21 November"
        day_after = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", words[i + 1]) if i + 1 < len(words) else None
        if w in MONTHS and (prev in MONTH_LEADS or year_at or day_before or day_after
                            or (w not in ("may", "mar", "jan", "jun", "dec", "oct", "aug", "sep") and len(w) > 3)):
            day = int((day_before or day_after).group(1)) if (day_before or day_after) else 15
            start = i - (2 if day_before and prev == "of" else 1 if day_before else 0)
            end = i + 1 + (1 if day_after and not year_at else 0)
            if day_after and i + 2 < len(words) and re.fullmatch(r"(19|20)\d\d", words[i + 2]):
                year_at, end = i + 2, i + 3
            year = int(words[year_at]) if year_at else None
            span = Span(doc, start, (year_at + 1) if year_at else end, label="DURATION")
            span._.value = _days_since(MONTHS[w], min(max(day, 1), 28) if day <= 31 else 15, year)
            return span
        # ("in the spring", "over the summer": the article changes nothing)
        lead = words[i - 2] if prev == "the" and i > 1 and words[i - 2] in (
            "in", "over", "since", "during", "at") else prev
        for phrase, (month, day) in HOLIDAYS.items():
            n = len(phrase)
            if tuple(words[i:i + n]) == phrase and (lead in MONTH_LEADS | {"at", "over", "this", "before", "after", "during"}):
                if phrase[0] in ("summer", "winter", "spring", "autumn", "fall") and lead not in ("last", "this", "in", "over", "since", "during"):
                    return None
                span = Span(doc, i, i + n, label="DURATION")
                span._.value = _days_since(month, day)
                return span
        if w in WEEKDAYS and prev in ("on", "last", "since", "this", "past"):
            today = today_()  # the last such day before today
            span = Span(doc, i, i + 1, label="DURATION")
            span._.value = float((today.weekday() - WEEKDAYS[w] - 1) % 7 + 1)
            return span
        if re.fullmatch(r"(19|20)\d\d", w) and prev in ("in", "since", "from", "until", "till", "of"):
            year = int(w)
            today = today_()
            if year <= today.year:
                span = Span(doc, i, i + 1, label="DURATION")
                span._.value = _days_since(7, 1, year) if year < today.year else _days_since(1, 1, year) / 2
                return span
        return None

    @staticmethod
    def _number_span(doc: Doc, words: List[str], i: int) -> Optional[Span]:
        decade = DECADES.get(words[i]) or (int(words[i][:2]) if re.fullmatch(r"[2-9]0'?s", words[i]) else None)
        if decade and i > 0 and (words[i - 1] in ("my", "early", "mid", "late", "mid-")
                                 or words[max(i - 2, 0)] in ("my",)):
            # "in my late forties", "early 30s": the lowest age it can be (only under 18
            # changes an answer, so the range is enough)
            prev = words[i - 1]
            span = Span(doc, i - 1 if prev in ("early", "mid", "late") else i, i + 1, label="AGE")
            span._.value = decade + {"early": 0, "mid": 3, "late": 6}.get(prev, 0)
            return span
        value, j = _number_at(words, i)
        if value is None:
            # "m44", "f29", "f, 29"
            m = re.fullmatch(r"[mf](\d{2})", words[i])
            if m:
                span = Span(doc, i, i + 1, label="AGE")
                span._.value = float(m.group(1))
                return span
            return None
        tail = re.sub(r"^" + _NUM, "", words[j - 1]) if re.match(_NUM, words[j - 1]) else ""
        unit = tail or (words[j] if j < len(words) else "")
        k = j if tail else j + 1
        span: Optional[Span] = None
        prev = words[i - 1] if i > 0 else ""
        if unit in MM_UNITS and 0 <= value <= 10:
            span = Span(doc, i, k, label="NEEDLE_MM")
            span._.value = round(value, 2)
        elif 0.2 <= value <= 3 and value != int(value) and unit not in UNIT_DAYS \
                and words[i] not in ("half", "quarter", "a", "an") \
                and unit not in ("%", "x", "times", "kg", "lbs", "stone", "l", "litres", "cm"):
            # a decimal needle length without its unit: "a 0.25 pen", "roller 0.5"
            span = Span(doc, i, j, label="NEEDLE_MM")
            span._.value = round(value, 2)
        elif unit in UNIT_DAYS:
            end = k
            ago = end < len(words) and words[end] in AGO_WORDS
            if ago:
                end += 1
            later = end < len(words) and words[end] in ("later", "since")
            if ago or later or prev in ("last", "past", "over", "since", "for", "been"):
                span = Span(doc, i, end, label="DURATION")
                span._.value = round(value * UNIT_DAYS[unit], 2)
            elif unit in ("years", "year", "yrs", "yr") and k < len(words) and words[k] == "old":
                span = Span(doc, i, k + 1, label="AGE")
                span._.value = value
            elif unit in ("years", "year", "yrs", "yr") and 10 <= value <= 110 \
                    and value == int(value) and (prev in AGE_YEARS_BEFORE or (
                        k < len(words) and words[k] in AGE_AFTER)):
                # "I have 55 years", "I am 59 years", "38 year woman"; not "it must be
                # thirty years", "I smoke 30 years"
                span = Span(doc, i, k, label="AGE")
                span._.value = value
        elif unit == "y" and words[k:k + 2] == ["/", "o"]:  # "28 y/o"
            span = Span(doc, i, k + 2, label="AGE")
            span._.value = value
        elif prev in ("under", "below", "over", "above") and 10 <= value <= 120 \
                and value == int(value) and unit not in MM_UNITS:
            # "I'm under 18": at most 17, the cautious reading; "over 40": 41
            span = Span(doc, i, j, label="AGE")
            span._.value = value - 1 if prev in ("under", "below") else value + 1
        elif (unit in AGE_AFTER or unit == "old") and 10 <= value <= 120 and value == int(value):
            span = Span(doc, i, k, label="AGE")
            span._.value = value
        elif 10 <= value <= 120 and value == int(value) and (
                prev in AGE_BEFORE or words[max(i - 2, 0):i] in (["i", "'m"], ["i", "m"])
                or (prev == "," and i > 1 and words[i - 2] in ("m", "f", "male", "female"))):
            span = Span(doc, i, j, label="AGE")
            span._.value = value
        elif 10 <= value <= 120 and value == int(value) and re.fullmatch(r"\d+|[a-z-]+", words[i]) \
                and unit not in NOT_AGE_UNITS and prev not in NOT_AGE_BEFORE:
            span = Span(doc, i, j, label="NUMBER")  # a bare number: an age only if asked for one
            span._.value = value
        return span


# --------------------------------------------------------------------------- building it

def patterns_from_lexicon(lexicon: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Entity-ruler patterns from the knowledge base's lexicon (one place for every word)."""
    out = []
    for section, label in SECTION_LABELS.items():
        for ident, phrases in lexicon[section].items():
            for phrase in phrases:
                out.append({"label": label, "pattern": _clean(phrase), "id": str(ident)})
    for ident, key in (("true", "controlled"), ("false", "uncontrolled")):
        for phrase in lexicon["cues"][key]:
            out.append({"label": "CONTROL", "pattern": _clean(phrase), "id": ident})
    for phrase in lexicon.get("events", []):
        out.append({"label": "EVENT", "pattern": _clean(phrase), "id": "event"})
    for phrase in lexicon.get("other_meanings", []):  # found, so that nothing shorter is; dropped
        out.append({"label": "OTHER", "pattern": _clean(phrase), "id": "other"})
    return out


def _norms(nlp: Language, phrase: str) -> List[str]:
    with nlp.select_pipes(enable=[p for p in ("lemmatizer", "fact_norm") if p in nlp.pipe_names]):
        doc = nlp(_clean(phrase))
    return [t.norm_ for t in doc]


PAIR_GAP_DENIALS = ["not", "n't", "no", "never", "nt", "isnt", "arent", "wasnt", "werent", "dont",
                    "doesnt", "didnt", "without", "nor", "neither", "none"]


def pair_patterns(nlp: Language, pairs: Dict[str, List[List[List[str]]]],
                  label: str = "RED_FLAG") -> List[Dict[str, Any]]:
    """Token patterns for the red-flag word pairs: a word of each list, up to three words
    apart, in either order, by NORM (dictionary form)."""
    out = []
    for ident, entries in pairs.items():
        for entry in entries:
            first, second = entry[0], entry[1]
            # a denial between the two words is no sign ("my lips are not swollen")
            gap = [{"IS_SENT_START": False, "LOWER": {"NOT_IN": PAIR_GAP_DENIALS}, "OP": "?"}] \
                * (entry[2] if len(entry) > 2 else 4)
            sides = []
            for words in (first, second):
                singles = sorted({n[0] for n in (_norms(nlp, w) for w in words) if len(n) == 1})
                multis = [n for n in (_norms(nlp, w) for w in words) if len(n) > 1]
                alts = ([[{"NORM": {"IN": singles}}]] if singles else []) + \
                       [[{"NORM": t} for t in n] for n in multis]
                sides.append(alts)
            for a in sides[0]:
                for b in sides[1]:
                    for x, y in ((a, b), (b, a)):
                        # both words in one sentence ("a blood clot in March. Still taking it")
                        y = [{**y[0], "IS_SENT_START": False}] + y[1:]
                        out.append({"label": label, "id": ident, "pattern": x + gap + y})
    return out


def fever_pairs(scales: Dict[str, Dict[str, Any]]) -> Dict[str, List[Any]]:
    """Word pairs for a temperature that is a fever ("38.9 temp", "had 39 degree", "101F
    fever"): every reading in each scale's range, as people write it (38, 38.5, 38,5, 38.5c),
    beside one of the scale's words."""
    entries = []
    for scale in scales.values():
        lo, hi = scale["range"]
        unit = next((w for w in scale["words"] if len(w) == 1 and w.isalpha()), "")
        readings = set()
        for tenth in range(round(lo * 10), round(hi * 10) + 1):
            value = tenth / 10
            for text in {f"{value:g}", f"{value:.1f}"}:
                readings.update({text, text.replace(".", ","), text + unit})
        entries.append([sorted(readings), list(scale["words"]), 3])
    return {"fever": entries} if entries else {}


def skin_type_patterns(nlp: Language, words: Dict[str, List[str]],
                       modifiers: Dict[str, Dict[str, List[str]]]) -> List[Dict[str, Any]]:
    """Token patterns for a skin type told by how one burns and tans: a modifier right before
    the burn/tan word ("rarely burn") or after it ("burn quick"), with at most one word of
    degree between them ("burn really easily")."""
    between = sorted({n for w in words.get("between", []) for n in _norms(nlp, w)})
    gap = [{"NORM": {"IN": between}, "OP": "?"}] if between else []
    out = []
    for ident, sides in modifiers.items():
        for verb in ("burn", "tan"):
            verbs = [[{"NORM": t} for t in _norms(nlp, w)] for w in words.get(verb, [])]
            for where in ("before", "after"):
                for m in sides.get(f"{where}_{verb}") or []:
                    mod = [{"NORM": t} for t in _norms(nlp, m)]
                    for v in verbs:
                        out.append({"label": "SKIN_TYPE", "id": str(ident),
                                    "pattern": mod + gap + v if where == "before" else v + gap + mod})
    return out


def typo_targets(lexicon: Dict[str, Any]) -> List[str]:
    """Lexicon words worth correcting a typo towards: long, and not everyday English."""
    words = set()
    for section in ("facts", "concerns", "procedures", "red_flags", "devices", "areas"):
        for phrases in lexicon[section].values():
            for p in phrases:
                for w in re.findall(r"[a-z]+", _clean(p)):
                    if len(w) >= 5:
                        words.add(w)
    return sorted(words)


def vocabulary(lexicon: Dict[str, Any]) -> List[str]:
    """Every word the lexicon explains (its phrases, events, everyday answer words and what
    is none of the facts)."""
    words = set()
    for section in list(SECTION_LABELS) :
        for phrases in lexicon[section].values():
            for p in phrases:
                words.update(re.findall(r"[a-z']+", _clean(p)))
    for p in list(lexicon.get("events", [])) + list(lexicon.get("answer_words", [])) \
            + list(lexicon.get("unrelated", [])) + list(lexicon.get("other_meanings", [])):
        words.update(re.findall(r"[a-z']+", _clean(p)))
    return sorted(words)


def _edit_limit(word: str) -> int:
    return 1 if len(word) <= 6 else 2 if len(word) <= 9 else 3


def protected_words(targets: Sequence[str], lexicon: Dict[str, Any]) -> List[str]:
    """Common English words (spacy-lookups-data's word frequencies: log probability above
    -16, about the 100,000 most frequent) within the typo limit of a lexicon word, which must
    never be "corrected" into it ("forever" is not "fever")."""
    from rapidfuzz.distance import OSA
    probs = _statistical.word_probs()
    by_first: Dict[str, List[str]] = {}
    for t in targets:
        by_first.setdefault(t[0], []).append(t)
    out = set()
    for word, logp in probs.items():
        if logp < _statistical.COMMON_LOGP or len(word) < 5 or not word.isalpha() or not word.islower() \
                or word in targets:
            continue
        limit = _edit_limit(word)
        for t in by_first.get(word[0], ()):
            if abs(len(t) - len(word)) <= limit and OSA.distance(word, t, score_cutoff=limit) <= limit:
                out.add(word)
                break
    return sorted(out - set(targets))


def training_texts() -> List[str]:
    """The project's NLU examples (data/nlu.yml), the sentences the span categoriser learns
    from beside the lexicon's phrases."""
    import yaml
    data = yaml.safe_load((ROOT / "data" / "nlu.yml").read_text(encoding="utf-8"))
    out = []
    for block in data.get("nlu") or []:
        for line in (block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line[2:]))
    return out


def build(kb=None, lemmas: bool = True, typos: bool = True, statistical: bool = True) -> Language:
    """The pipeline; `lemmas`, `typos` and `statistical` off only to measure what each part
    brings (scripts/eval_messages.py --ablate)."""
    kb = kb or default_kb()
    lexicon = kb.raw["lexicon"]
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    if lemmas:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.get_pipe("lemmatizer").initialize()  # lookup tables from spacy-lookups-data
    targets = typo_targets(lexicon) if typos else []
    nlp.add_pipe("fact_norm", config={"keep": lexicon.get("keep_forms", []), "targets": targets,
                                      "protected": protected_words(targets, lexicon)})
    patterns = patterns_from_lexicon(lexicon)
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER",
                                                 "overwrite_ents": True})
    ruler.add_patterns(patterns)
    by_norm = nlp.add_pipe("entity_ruler", name="lemma_ruler",
                           config={"phrase_matcher_attr": "NORM", "overwrite_ents": False})
    by_norm.add_patterns(patterns)
    # warning signs in two parts win over what overlaps them ("my lips feel swollen")
    pairs = nlp.add_pipe("entity_ruler", name="red_flag_ruler",
                         config={"phrase_matcher_attr": "NORM", "overwrite_ents": True})
    pairs.add_patterns(pair_patterns(nlp, lexicon.get("red_flag_pairs", {}))
                       + pair_patterns(nlp, fever_pairs(lexicon.get("fever_temperature", {})))
                       + pair_patterns(nlp, lexicon.get("fact_pairs", {}), "FACT")
                       + pair_patterns(nlp, lexicon.get("ambiguous_pairs", {}), "FACT")
                       + skin_type_patterns(nlp, lexicon.get("skin_type_words", {}),
                                            lexicon.get("skin_type_modifiers", {})))
    if statistical:
        import random
        from actions.nlu import statistical as trained
        prefix = [p for p in ("sentencizer", "lemmatizer", "fact_norm") if p in nlp.pipe_names]
        texts = training_texts() + trained.carrier_sentences(
            lexicon, SECTION_LABELS, random.Random(trained.SEED))
        trained.add_and_train(nlp, texts, prefix, ["entity_ruler", "lemma_ruler", "red_flag_ruler"],
                              after=prefix[-1])
        # units of measure are read as numbers' units, never as a fact ("half a millimetre")
        nlp.add_pipe("fact_statistical").common = set(trained.common_words()) | MM_UNITS | set(UNIT_DAYS)
    nlp.add_pipe("fact_scope", config={"rules": context_rules(lexicon["cues"], nlp.tokenizer)})
    nlp.add_pipe("fact_context", config={"cues": lexicon["cues"],
                                         "vocabulary": vocabulary(lexicon),
                                         "medicines": lexicon.get("medicine_facts", []),
                                         "untreated": lexicon.get("before_any_treatment", {}),
                                         "habits": lexicon.get("habits", [])})
    nlp.meta["name"] = "microneedling_triage"
    nlp.meta["version"] = "2.0.0"
    nlp.meta["description"] = f"Generated from knowledge base {kb.version}"
    return nlp


def save(path: Path = DEFAULT_DIR, kb=None) -> Path:
    nlp = build(kb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(path)
    return path


def load(path: Path = DEFAULT_DIR) -> Language:
    return spacy.load(path)


# what the built pipeline is made from (scripts/train.sh rebuilds it when one is newer)
SOURCES = ("actions/triage/knowledge_base.yml", "actions/nlu/spacy_pipeline.py",
           "actions/nlu/statistical.py", "data/nlu.yml", "requirements.txt")


def is_current(path: Path = DEFAULT_DIR) -> bool:
    """Is the built pipeline newer than everything it is made from?"""
    meta = path / "meta.json"
    return meta.exists() and all((ROOT / s).stat().st_mtime <= meta.stat().st_mtime
                                 for s in SOURCES if (ROOT / s).exists())


def current(path: Path = DEFAULT_DIR) -> Language:
    """The built pipeline when it is current, else a fresh build (the span categoriser's
    training takes about a minute and a half)."""
    return load(path) if is_current(path) else build()
