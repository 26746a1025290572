"""From what the NLU found in one message to facts in the contract's vocabulary.

Pure Python (no Rasa): the conversation's slot extraction and `python -m actions.nlu extract`
both call `facts_from_message`, so what support staff see is what the assistant understood.

Reading is fail-safe (policy section 9): a fact is *yes* only when affirmed and *no* only when
that very fact is denied; a hedge, a vague past for something about the present, another
person's history or a hypothetical leaves it *unknown* (listed in `unknown_facts`, so that a
later "none of the others" cannot turn it into a no, and the dialogue asks about it).
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from actions.triage.engine import default_kb

DAYS_PER_MONTH = 30.4375
ANSWER_INTENTS = {"inform", "affirm", "deny", "dont_know"}
# Messages that ask or chat: they state nothing negative about the person ("which depth for
# my nose?"); what they affirm about the person counts ("I'm 44, is 1 mm ok for my lines?").
NON_STATEMENT_PREFIXES = ("faq_",)
NON_STATEMENT_INTENTS = {"ask_why", "out_of_scope", "bot_challenge"}
NEVER_CUES = {"never", "never had", "never have", "never taken", "never took", "never been on"}


QUESTION_WORDS = {"what", "whats", "what's", "how", "can", "could", "is", "isn't", "are", "should",
                  "shall", "when", "which", "why", "does", "do", "did", "will", "would", "may",
                  "where", "who", "am", "any", "anyone", "pls", "please"}


def looks_like_question(text: str) -> bool:
    """A question mark, or a sentence that opens with a question word ("can I use it while
    on accutane", "how long after botox"); a statement otherwise, whatever the intent
    classifier guessed ("I'm not on roaccutane anymore, I finished in September")."""
    text = (text or "").lower()
    if "?" in text:
        return True
    for sentence in re.split(r"[.!\n]+", text):
        first = re.findall(r"[a-z']+", sentence)[:3]
        first = [w for w in first if w not in ("hi", "hey", "hello", "hiya", "ok", "so", "and",
                                              "but", "also", "oh", "um", "quick", "question")]
        if first and first[0] in QUESTION_WORDS:
            return True
    return False


def empty_update() -> Dict[str, Any]:
    return {"facts": {}, "concerns": [], "areas": [], "device": {}, "age": None,
            "skin_type": None, "recent_procedures": {}, "red_flags": [],
            "unknown_questions": [], "unknown_facts": [], "unclear": False, "not_areas": []}


# hives come within hours; bumps this many days after a session are new lumps
LUMPS_AFTER_DAYS = 3


def _set(update: Dict[str, Any], fact: str, value: Any) -> None:
    # Within one message a "yes" is never undone by a later "no" ("I'm on warfarin but I
    # stopped aspirin"): the cautious reading.
    if update["facts"].get(fact) is True and value is False:
        return
    # ... nor does a "no" clear what the same message hedges ("no lupus ... the GP thought
    # it might be autoimmune"): it stays unknown and is asked
    if value is False and fact in update["unknown_facts"] \
            and fact not in update.get("past_only", ()):
        return
    update["facts"][fact] = value
    if fact in update["unknown_facts"] and value is not None:
        update["unknown_facts"].remove(fact)


def _unknown(update: Dict[str, Any], fact: str) -> None:
    """Mentioned, but neither affirmed nor denied: stays unknown and is asked."""
    if update["facts"].get(fact) is False:
        del update["facts"][fact]
    if fact not in update["facts"] and fact not in update["unknown_facts"]:
        update["unknown_facts"].append(fact)


def _number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _ambiguous_pair(said: str, value: str, lex: Mapping[str, Any]) -> Tuple[str, ...]:
    """(value,) when `said` is one of the lexicon's ambiguous pairs for that fact ("my
    period's a couple of days late"): a word of each list in it."""
    words = set(re.findall(r"[a-z]+", said))
    for entry in (lex.get("ambiguous_pairs") or {}).get(value) or ():
        if all(any((w in words) if " " not in w else (w in said) for w in side)
               for side in entry[:2]):
            return (value,)
    return ()


def _entity_facts(entities: Iterable[Mapping[str, Any]], update: Dict[str, Any], kb,
                  question: Optional[str] = None, text: str = "") -> None:
    lex = kb.raw["lexicon"]
    current_state = set(lex["current_state_facts"])
    recent_days = lex["recent_days"]
    recent_stop = lex.get("recent_stop_days") or {}
    control: Optional[bool] = None
    fine_at: Dict[str, int] = {}  # where a place is said to be fine ("my forehead's fine")
    goal_at: Dict[str, int] = {}  # where a place is last named as a goal
    for e in entities:
        kind, value = e.get("entity"), e.get("value")
        if not isinstance(value, (str, int, float)) or kind in ("needle_mm", "age") and not _number(value):
            continue  # a button payload with a list, an object or a word for a number: nothing said
        negated = bool(e.get("negated"))
        if kind in ("fact", "procedure", "control", "skin_type") and (
                e.get("hypothetical") or e.get("family") or e.get("compared")):
            said = str(e.get("text") or "").lower()
            if kind == "fact" and e.get("hypothetical") and not e.get("family") and (
                    value in ((lex.get("ambiguous") or {}).get(said) or ())
                    or _ambiguous_pair(said, value, lex)):
                # "trying for a baby and my period's late": a maybe is asked, even in a wish
                _unknown(update, value)
            continue  # "what if I'm pregnant?", "my mum has keloids" state nothing about them
        if kind == "red_flag" and (e.get("hypothetical") or e.get("family")):
            continue
        if kind == "red_flag":
            # Safety first: a warning sign counts even hedged or inside a question; only a
            # clear "no swelling" or one that is over ("the swelling has gone") does not.
            if value in kb.red_flags and not negated and not (
                    e.get("stopped") and not e.get("ongoing")):  # "since I finished ... still going"
                _add(update["red_flags"], [value])
            continue
        if kind == "fact" and value == "sunburn" and question == "skin_type" \
                and not e.get("ongoing") and e.get("ago_days") is None:
            continue  # "I get fast a sunburn", told of one's skin in the sun: how, not now
        if kind == "fact" and value in kb.facts:
            said = str(e.get("text") or "").lower()
            names = (lex.get("ambiguous") or {}).get(said) or _ambiguous_pair(said, value, lex)
            if value in names:
                if negated:  # "they're not spots": neither a pimple nor a mole
                    for candidate in names:
                        _set(update, candidate, False)
                    continue
                for candidate in names:  # "that spot": a pimple or a mole, both asked
                    _unknown(update, candidate)
            elif e.get("uncertain") or e.get("statistical"):
                # hedged; or only the trained model's guess ("never got it checked" next to
                # a keloid is not a mole): asked, never taken as a yes or a no
                _unknown(update, value)
            elif negated and said in ((lex.get("narrower") or {}).get(value) or ()):
                continue  # "lupus no": one disease of the group denied, the group still asked
            else:
                _fact(update, value, e, current_state, recent_days, recent_stop)
        elif kind == "control":
            if not e.get("uncertain"):
                control = (str(value) == "true") != negated
        elif kind == "concern" and value in kb.concerns and not negated:
            _add(update["concerns"], [value])
            # "forehead lines", "crow's feet": the goal names its place too
            for a in _areas_named_in(str(e.get("text") or ""), kb):
                _add(update["areas"], [a])
                goal_at[a] = max(goal_at.get(a, -1), int(e.get("start") or 0))
        elif kind == "area" and e.get("not_goal"):
            if str(value) in kb.areas:  # one place ("the rest of my face is fine" is no take-back)
                fine_at[str(value)] = max(fine_at.get(str(value), -1), int(e.get("start") or 0))
        elif kind == "area" and not negated and not e.get("site") and not e.get("family"):
            for a in str(value).split("+"):
                goal_at[a] = max(goal_at.get(a, -1), int(e.get("start") or 0))
            _add(update["areas"], [a for a in str(value).split("+") if a in kb.areas])
        elif kind == "area" and not e.get("site") and not e.get("family"):
            # "forget my lips then, just my cheeks": a place taken back
            _add(update["not_areas"], [a for a in str(value).split("+") if a in kb.areas])
        elif kind == "device" and value in kb.device_types and not negated:
            update["device"]["type"] = value
        elif kind == "needle_mm":
            if re.search(r"(\bnot|n't|\bnot the|\binstead of|\brather than)\s*(a|the)?\s*$",
                         text[:int(e.get("start") or 0)].lower()):
                continue  # "it's 0.5mm not 1.5": the length corrected away
            # two lengths in one message ("is 1mm ok? the 0.5 does nothing"): the longer,
            # the cautious reading
            update["device"]["needle_mm"] = max(float(value), update["device"].get("needle_mm") or 0)
        elif kind == "age":
            update["age"] = float(value) if float(value) != int(float(value)) else int(float(value))
        elif kind == "skin_type" and re.fullmatch(r"type\s*\S+", str(e.get("text") or "").lower()) \
                and question != "skin_type" and not re.search(r"skin|fitz|photo", text.lower()):
            continue  # "diabetic, type 2", "von Willebrand (type 1)": not a skin type
        elif kind == "skin_type" and not negated and not e.get("uncertain"):
            try:  # several descriptions: the darker one, the cautious reading
                update["skin_type"] = max(int(value), update["skin_type"] or 0)
            except (TypeError, ValueError):
                pass
        elif kind == "procedure" and value in kb.procedures and not negated:
            # No date given: count it as today, the cautious reading (the wait is longest).
            ago = e.get("ago_days")
            had = update["recent_procedures"].get(value)
            if ago is None:  # "filler on the 20th ... Juvederm": the date said stands
                update["recent_procedures"][value] = had if had is not None else 0
            else:  # two dates for one kind: the more recent (the longer wait)
                dated = [d for d in (had, round(ago, 1)) if d is not None]
                update["recent_procedures"][value] = min(dated) if (had or 0) > 0 else round(ago, 1)
    # "a carcinoma on my forehead ... the pen on the rest of my face": not the forehead
    before = lambda e: re.sub(r"\s+", " ", text[:int(e.get("start") or 0)].lower()).rstrip()
    rest = [e for e in entities if e.get("entity") == "area" and "+" in str(e.get("value"))
            and any(before(e).endswith(p) for p in (lex["cues"].get("rest_of") or ()))]
    if rest:
        sites = {a for e in entities if e.get("entity") == "area" and e.get("site")
                 and "+" not in str(e.get("value")) for a in [str(e.get("value"))]}
        named = {a for e in entities if e.get("entity") == "area" and "+" not in str(e.get("value"))
                 and not e.get("site") and not e.get("negated") for a in [str(e.get("value"))]}
        update["areas"] = [a for a in update["areas"] if a not in sites or a in named]
    # "I said forehead before but I meant my neck, my forehead's fine": taken back, unless
    # named as a goal again after
    for area, at in fine_at.items():
        if at > goal_at.get(area, -1):
            update["areas"] = [a for a in update["areas"] if a != area]
            _add(update["not_areas"], [area])
    # "any spot, cut or burn leaves a dark mark": the spot, the cut and the burn are examples
    # (also in an answer to the question about dark marks)
    if "pih_history" in update["facts"] or "pih_history" in update["unknown_facts"] \
            or question == "pih":
        examples = set(lex.get("pih_examples") or [])
        for e in entities:
            value = e.get("value")
            if e.get("entity") == "fact" and value != "pih_history" \
                    and str(e.get("text") or "").lower() in examples:
                update["facts"].pop(value, None)
                if value in update["unknown_facts"]:
                    update["unknown_facts"].remove(value)
    clues = lex.get("melasma_clues") or {}
    if "hyperpigmentation" in update["concerns"] and clues and any(
            e.get("entity") == "concern" and e.get("value") == "hyperpigmentation"
            and set(clues.get("patches", [])) & set(_words(str(e.get("text") or "")))
            for e in entities) and any(
            f" {w} " in " " + " ".join(_words(text)) + " " for w in clues.get("causes", [])):
        # "brown patches since I was pregnant": melasma, the cautious reading
        update["concerns"] = ["melasma" if c == "hyperpigmentation" else c
                              for c in update["concerns"]]
    # itchy red bumps days or weeks after a session are new lumps (a possible granuloma, the
    # policy's words), not hives: "2 weeks since I needled ... itchy red bumps coming up"
    lumps = set(lex.get("lump_words") or [])
    if "hives" in update["red_flags"] and lumps and any(
            e.get("entity") == "red_flag" and e.get("value") == "hives"
            and lumps & set(_words(str(e.get("text") or ""))) for e in entities) and (any(
            e.get("entity") == "duration" and float(e.get("value") or 0) >= LUMPS_AFTER_DAYS
            for e in entities) or any(f" {p} " in " " + " ".join(_words(text)) + " "
                                      for p in lex.get("lump_later") or [])):
        update["red_flags"] = [f for f in update["red_flags"] if f != "hives"]
        _add(update["red_flags"], ["new_lumps"])
    # "the dermatologist said it's a harmless mole": what the policy waits for, said
    said_words = " " + " ".join(_words(text)) + " "
    for fact, rule in (lex.get("cleared_by") or {}).items():
        if any(f" {p} " in said_words for p in rule["phrases"]) \
                and any(f" {w} " in said_words for w in rule.get("with_any", [])) \
                and not any(f" {w} " in said_words for w in rule.get("unless_any", [])):
            update["facts"][fact] = False
            if fact in update["unknown_facts"]:
                update["unknown_facts"].remove(fact)
    # "no botox, no filler, no peels, no laser": a full answer about recent procedures
    denied = {e.get("value") for e in entities if e.get("entity") == "procedure"
              and e.get("negated") and not e.get("uncertain") and not e.get("hypothetical")}
    if len(denied) >= 3 and not update["recent_procedures"]:
        _set(update, "recent_procedures_asked", True)
    # "no procedures this year", "botox two weeks ago, that's it": the same, in a few words
    said = " " + " ".join(_words(text)) + " "
    answered = lex.get("procedures_answered") or {}
    if any(f" {p} " in said for p in answered.get("none", [])) or (update["recent_procedures"] and any(
            f" {p} " in said for p in answered.get("only", []))):
        _set(update, "recent_procedures_asked", True)
    _implied(update, [e for e in entities if not (e.get("hypothetical") or e.get("family")
                                                  or e.get("compared"))],
             lex.get("implies") or {})
    # "when I pierce my ear I get a big scar, the doctor said keloid": that scar is the keloid
    # history, not something to treat
    if "keloid_history" in update["facts"] or "keloid_history" in update["unknown_facts"]:
        plain = {e.get("value") for e in entities if e.get("entity") == "concern"
                 and str(e.get("text") or "").lower() in ("scar", "scars", "scarring")}
        named = {e.get("value") for e in entities if e.get("entity") == "concern"} - plain
        if plain and named:  # only when the person names something else to treat
            update["concerns"] = [c for c in update["concerns"] if c not in plain or c in named]
    # "scars" alone, in a microneedling chat, are acne scars, unless the message names an
    # operation or an injury ("my C-section scar", "scar from my op")
    bare = [e for e in entities if e.get("value") == "surgical_scar"
            and str(e.get("text") or "").lower() in ("scar", "scars", "scarring")]
    if "surgical_scar" in update["concerns"] and bare and len(bare) == len(
            [e for e in entities if e.get("value") == "surgical_scar"]):
        said = (text or "").lower()
        if not any(re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", said)
                   for w in lex.get("surgical_context", [])):
            update["concerns"] = [c for c in update["concerns"] if c != "surgical_scar"]
            _add(update["concerns"], ["acne_scars"])
    # a lone number beside what the person wants ("27, acne scars on my cheeks") is their age
    numbers = [e for e in entities if e.get("entity") == "number"]
    if update["age"] is None and len(numbers) == 1 and 13 <= float(numbers[0]["value"]) <= 100 \
            and (update["concerns"] or update["areas"] or update["device"] or update["facts"]):
        update["age"] = int(float(numbers[0]["value"]))
    # "well controlled" says something only about a diabetes named in the same message, or
    # in answer to the question about it
    if control is not None and (update["facts"].get("diabetes") is True
                                or question == "diabetes_control"):
        _set(update, "diabetes_controlled", control)
    elif control is not None:
        update["control"] = control  # applies if a diabetes was told before (slot_updates)


def _fact(update, value: str, e: Mapping[str, Any], current_state, recent_days,
          recent_stop: Mapping[str, float]) -> None:
    negated = bool(e.get("negated"))
    stopped, historical = bool(e.get("stopped")), bool(e.get("historical"))
    ongoing = bool(e.get("ongoing"))
    ago = e.get("ago_days")
    if value == "isotretinoin_current":
        past = (stopped or historical or ago is not None) and not ongoing
        # "not on roaccutane anymore, finished in September": not now, but taken before
        _isotretinoin(update, negated and not (stopped or ago is not None), past, ago,
                      e.get("negation_cue"))
        return
    if negated:
        _set(update, value, False)
        return
    if value not in current_state:
        _set(update, value, True)  # history: a past mention is still true
        return
    if ongoing:
        _set(update, value, True)
    elif stopped and value in recent_stop and (ago is None or ago < recent_stop[value]):
        # ended, but so recently (or we do not know when) that it may still hold
        _unknown(update, value)
    elif stopped:
        _set(update, value, False)  # an explicit end: "stopped aspirin", "it has healed"
    elif historical or ago is not None:
        # a vague past says nothing about now ("acne as a teenager"), unless it was recent
        # enough to count as now ("sunburn 3 days ago")
        if value in recent_days and ago is not None and ago < recent_days[value]:
            _set(update, value, True)
        elif update["facts"].get(value) is not False:
            _unknown(update, value)
            # (unknown for saying nothing about now, not for a hedge: a clear "not now" in
            # the same message may still say no — "I WAS breastfeeding … not at all now")
            update.setdefault("past_only", []).append(value)
    else:
        _set(update, value, True)


_AREA_WORDS: Dict[int, Dict[str, List[str]]] = {}


def _areas_named_in(text: str, kb) -> List[str]:
    key = id(kb)
    if key not in _AREA_WORDS:
        words: Dict[str, List[str]] = {}
        for ident, phrases in kb.raw["lexicon"]["areas"].items():
            for p in phrases:
                words.setdefault(str(p).lower(), [a for a in str(ident).split("+") if a in kb.areas])
        _AREA_WORDS[key] = words
    text = text.lower().replace("’", "'")
    found: List[str] = []
    for phrase, areas in sorted(_AREA_WORDS[key].items(), key=lambda x: -len(x[0])):
        if re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text):
            _add(found, areas)
            text = text.replace(phrase, " ")
    return found


def _isotretinoin(update, negated: bool, past: bool, ago, cue: Optional[str]) -> None:
    if negated:
        _set(update, "isotretinoin_current", False)
        if cue in NEVER_CUES:
            _set(update, "isotretinoin_ever", False)
        return
    if past:
        _set(update, "isotretinoin_current", False)
        _set(update, "isotretinoin_ever", True)
        if ago is not None:
            _set(update, "isotretinoin_stopped_months_ago", round(ago / DAYS_PER_MONTH, 1))
        return
    _set(update, "isotretinoin_current", True)
    _set(update, "isotretinoin_ever", True)


def _implied(update: Dict[str, Any], entities: Iterable[Mapping[str, Any]], implies) -> None:
    """What one fact says of another (`lexicon.implies`, now -> ever): a cold sore now is a
    history of cold sores; "never had a cold sore" says no to both."""
    for now, ever in implies.items():
        if update["facts"].get(now) is True:
            _set(update, ever, True)
    for e in entities:
        value = e.get("value")
        if e.get("entity") == "fact" and e.get("negated") and e.get("negation_cue") in NEVER_CUES \
                and not e.get("statistical") and not e.get("uncertain"):
            partner = implies.get(value) or next((n for n, v in implies.items() if v == value), None)
            if partner and partner not in update["unknown_facts"]:
                _set(update, partner, False)


def _add(target: List[str], values: Iterable[str]) -> None:
    for v in values:
        if v not in target:
            target.append(v)


def _question(kb, qid: Optional[str]) -> Optional[Mapping[str, Any]]:
    for q in kb.raw["questions"]:
        if q["id"] == qid:
            return q
    return None


# ------------------------------------------------------------------ short answers

_ANSWER_CACHE: Dict[int, List[Tuple[Tuple[str, ...], str]]] = {}


def _words(text: str) -> List[str]:
    text = (text or "").lower().replace("’", "'").replace("‘", "'")
    return re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text)


def _answer_phrases(kb) -> List[Tuple[Tuple[str, ...], str]]:
    key = id(kb)
    if key not in _ANSWER_CACHE:
        out = []
        for kind, phrases in kb.raw["lexicon"]["answers"].items():
            for p in phrases:
                out.append((tuple(_words(str(p))), kind))
        # longest first; a hedge before a yes or no of the same length ("don't know" beats
        # "i don't")
        out.sort(key=lambda x: (-len(x[0]), x[1] != "dont_know"))
        _ANSWER_CACHE[key] = out
    return _ANSWER_CACHE[key]


# words that single something out of a list: with a word the lexicon does not know, the
# answer is not a plain "none" ("only the patch near my temple, the rest is fine")
CONTRAST = {"only", "just", "except", "apart", "but", "besides", "other", "rest", "others",
            "though", "although", "tho", "expect", "except"}
LIST_WORDS = {"none", "non", "nothing", "nothin", "any", "all", "neither", "nada", "zilch", "nun",
              "those", "thos", "them", "these", "rest", "others"}


def plain_answer(text: str, kb=None, list_only: bool = False) -> Optional[str]:
    """"yes", "no" or "dont_know" for a short answer in any words ("sure, go for it",
    "alright no worries", "nah never had any of those", "no idea tbh"), or None.
    Phrases are matched whole and longest first; when yes and no are both said, the last
    one wins ("nah... actually ok fine, go on"); a hedge wins over both."""
    kb = kb or default_kb()
    words = _words(text)
    if not words or len(words) > 40:
        return None
    used = [False] * len(words)
    found: List[Tuple[int, str]] = []
    for phrase, kind in _answer_phrases(kb):
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase and not any(used[i:i + n]):
                found.append((i, kind))
                for k in range(i, i + n):
                    used[k] = True
    found = [(i, k) for i, k in found if k != "emphasis"]
    if not found:
        return None
    words_found = [(i, k) for i, k in found if words[i][:1].isalnum()]
    if words_found:  # an emoji counts only alone: "No none of them 👍" is a no
        found = words_found
    if list_only:
        return "no" if any(k == "no" and LIST_WORDS & set(words[i:i + 1] + words[i + 1:i + 4])
                           for i, k in found) else None
    kinds = {k for _, k in found}
    if "dont_know" in kinds:
        return "dont_know"
    return max(found)[1]


# ------------------------------------------------------------------ one message

def facts_from_message(entities: List[Mapping[str, Any]], intent: Optional[str] = None,
                       text: str = "", question: Optional[str] = None,
                       unknown_items: Iterable[str] = (), rest_false: bool = False,
                       kb=None) -> Dict[str, Any]:
    """Facts stated by one message.

    entities: the NLU's entities (the spaCy pipeline's, or a button payload's).
    intent: the message's intent; question: the id of the question being asked (if any)
    and unknown_items its items still unknown, so that "no", "none of these", "yes" and
    "I don't know" are read as answers to it.
    """
    kb = kb or default_kb()
    update = empty_update()
    q = _question(kb, question)
    if q is not None and _answers(q, entities):
        intent = "inform"  # "fair skin" to the skin-type question is an answer, whatever DIET guessed
    if q is not None and intent not in ("inform",):
        # a short answer in the person's own words beats the intent classifier's guess
        said = plain_answer(text, kb)
        if said is not None and not _names_something(entities):
            intent = {"yes": "affirm", "no": "deny", "dont_know": "dont_know"}[said]
    is_question = (intent in NON_STATEMENT_INTENTS or (intent or "").startswith(NON_STATEMENT_PREFIXES)) \
        and (looks_like_question(text) or not _names_something(entities))
    if is_question or intent == "dont_know":
        # A question, or "I don't know the others, but I'm on warfarin": keep what is stated
        # as true (warning signs always), never read anything as a "no".
        _entity_facts([e for e in entities if not e.get("negated")], update, kb, question, text)
        if is_question:
            return update
    else:
        _entity_facts(entities, update, kb, question, text)
    if q is None or intent not in ANSWER_INTENTS:
        return update
    items = [i for i in q["items"] if i in set(unknown_items) or not unknown_items]
    stated = set(update["facts"]) | set(update["unknown_facts"]) \
        | {k for k in ("age", "skin_type") if update[k] is not None}
    unexplained = any(e.get("entity") == "unexplained" for e in entities)
    kind = q["kind"]
    bare = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*", text or "")
    bare_number = float(bare.group(1).replace(",", ".")) if bare else None
    if intent == "dont_know" and not stated and not (
            update["recent_procedures"] or update["concerns"] or update["areas"]
            or update["red_flags"] or update["device"]):
        # (a message that tells something else, "I forgot, I had filler on the 10th", is
        # not an "I don't know" to the question on screen: it is asked again)
        update["unknown_questions"].append(q["id"])
    elif kind in ("checklist", "yes_no") and (intent == "deny" or (
            intent == "inform" and (rest_false or (kind == "checklist"
                                                   and plain_answer(text, kb, list_only=True))))):
        if kind == "yes_no" and intent == "inform":
            return update
        words = _words(text)
        first_contrast = next((k for k, w in enumerate(words) if w in CONTRAST), None)
        said_none_first = first_contrast is not None and plain_answer(
            " ".join(words[:first_contrast]), kb, list_only=True) == "no"
        if unexplained and kind == "checklist" and not said_none_first and (
                first_contrast is not None or (rest_false and not stated
                                               and not update["recent_procedures"])):
            # ("Rhinoplasty five months ago. Nothing else.": the "else" is a word I don't know)
            # ("no, none. the peel was just a salon thing": a clear none first, then more)
            # "only the patch near my temple, the rest is fine": something was named that I
            # don't know; no item becomes a no, the question is asked again more plainly
            update["unclear"] = True
            return update
        for item in items:
            if item not in stated and item in kb.facts:
                # "None of these" to the procedures item means: asked, and none.
                _set(update, item, item == "recent_procedures_asked")
    elif kind == "yes_no" and intent == "affirm" and not stated:
        for item in items:
            _set(update, item, True)
    elif q["id"] == "pih" and "pih_history" not in stated and any(
            e.get("entity") == "concern" and e.get("value") == "hyperpigmentation"
            and not e.get("negated") and not e.get("hypothetical") for e in entities):
        # "a dark mark stays for months", said to "do dark marks stay after spots?": a yes
        _set(update, "pih_history", True)
        update["concerns"] = [c for c in update["concerns"] if c != "hyperpigmentation"]
    elif q["id"] == "isotretinoin_when":
        if bare_number is not None and "isotretinoin_stopped_months_ago" not in stated:
            _set(update, "isotretinoin_stopped_months_ago", bare_number)
        dur = [e for e in entities if e.get("entity") == "duration"]
        if dur and "isotretinoin_stopped_months_ago" not in stated:
            _set(update, "isotretinoin_stopped_months_ago",
                 round(float(dur[0]["value"]) / DAYS_PER_MONTH, 1))
    elif q["id"] == "profile" and update["age"] is None and "age" in items:
        age = bare_number if bare_number is not None else _lone_number(text, entities)
        if age is not None and 10 <= age <= 120:
            update["age"] = int(age) if age == int(age) else age
    elif q["id"] == "skin_type" and bare_number is not None and update["skin_type"] is None \
            and 1 <= bare_number <= 6:
        update["skin_type"] = int(bare_number)
    if q["id"] == "products_procedures" and (update["recent_procedures"] or intent == "deny"):
        _set(update, "recent_procedures_asked", True)
    return update


def _names_something(entities: Iterable[Mapping[str, Any]]) -> bool:
    return any(e.get("entity") in ("fact", "concern", "area", "device", "procedure", "age",
                                   "needle_mm", "skin_type", "red_flag") for e in entities)


def _answers(q: Mapping[str, Any], entities: Iterable[Mapping[str, Any]]) -> bool:
    """Does the message name something the question asks about?"""
    items = set(q["items"])
    for e in entities:
        if e.get("hypothetical") or e.get("family"):
            continue
        kind, value = e.get("entity"), e.get("value")
        if (kind == "fact" and value in items) or (kind in ("skin_type", "age") and kind in items) \
                or (kind == "concern" and "concerns" in items) \
                or (kind == "area" and "areas" in items and not e.get("site")) \
                or (kind == "procedure" and "recent_procedures_asked" in items) \
                or (kind == "number" and "age" in items) \
                or (kind == "control" and "diabetes_controlled" in items):
            return True
    return False


def _lone_number(text: str, entities: Iterable[Mapping[str, Any]]) -> Optional[float]:
    """The one number in a message that no entity explains ("wrinkles on my forehead, 40",
    "good morning - thirty-six and worried about my neck")."""
    numbers = [e for e in entities if e.get("entity") == "number"]
    if len(numbers) == 1:
        return float(numbers[0]["value"])
    spans = [(e.get("start", 0), e.get("end", 0)) for e in entities]
    found = [m for m in re.finditer(r"(?<![\w.])(\d{1,3})(?![\w.])", text or "")
             if not any(s <= m.start() < e for s, e in spans)]
    return float(found[0].group(1)) if len(found) == 1 else None


def to_contract(update: Mapping[str, Any]) -> Dict[str, Any]:
    """The part of an update worth showing: only what the message stated."""
    out: Dict[str, Any] = {"facts": dict(update["facts"])}
    for key in ("concerns", "areas", "red_flags"):
        out[key] = list(update[key])
    out["device"] = dict(update["device"])
    out["age"] = update["age"]
    out["skin_type"] = update["skin_type"]
    out["recent_procedures"] = dict(update["recent_procedures"])
    return out
