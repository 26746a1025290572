"""spaCy doc -> entity dicts (Rasa's entity format plus the context `fact_context` found)."""
from typing import Any, Dict, List

LABELS = {"FACT": "fact", "CONCERN": "concern", "AREA": "area", "DEVICE": "device",
          "PROCEDURE": "procedure", "RED_FLAG": "red_flag", "SKIN_TYPE": "skin_type",
          "CONTROL": "control", "AGE": "age", "NEEDLE_MM": "needle_mm", "DURATION": "duration", "NUMBER": "number"}
FLAGS = ("negated", "uncertain", "hypothetical", "stopped", "historical", "ongoing", "family",
         "site", "past", "compared", "statistical", "not_goal")


def entities_from_doc(doc) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for ent in doc.ents:
        kind = LABELS.get(ent.label_)
        if kind is None:
            continue
        value = ent._.value if ent._.value is not None else ent.ent_id_
        e: Dict[str, Any] = {"entity": kind, "value": value, "start": ent.start_char,
                             "end": ent.end_char, "text": ent.text}
        if kind not in ("age", "needle_mm", "duration", "number"):
            e.update(negated=ent._.negated, past=ent._.past, hypothetical=ent._.hypothetical)
            for flag in FLAGS[1:]:
                if getattr(ent._, flag) and flag not in ("hypothetical", "past"):
                    e[flag] = True
            if ent._.since_days is not None:
                e["since_days"] = ent._.since_days
            if ent._.negation_cue:
                e["negation_cue"] = ent._.negation_cue
            if ent._.ago_days is not None:
                e["ago_days"] = ent._.ago_days
        out.append(e)
    if getattr(doc._, "rest_false", False):
        out.append({"entity": "rest_false", "value": "true", "start": 0, "end": 0})
    unexplained = getattr(doc._, "unexplained", None)
    if unexplained:
        # words nothing in the lexicon explains: an answer holding them is not a plain "no"
        out.append({"entity": "unexplained", "value": " ".join(unexplained[:20])[:200],
                    "start": 0, "end": 0})
    return out
