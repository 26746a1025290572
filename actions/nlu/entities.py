"""spaCy doc -> entity dicts (Rasa's entity format plus the context `fact_context` found)."""
from typing import Any, Dict, List

LABELS = {"FACT": "fact", "CONCERN": "concern", "AREA": "area", "DEVICE": "device",
          "PROCEDURE": "procedure", "RED_FLAG": "red_flag", "SKIN_TYPE": "skin_type",
          "CONTROL": "control", "AGE": "age", "NEEDLE_MM": "needle_mm", "DURATION": "duration"}


def entities_from_doc(doc) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for ent in doc.ents:
        kind = LABELS.get(ent.label_)
        if kind is None:
            continue
        value = ent._.value if ent._.value is not None else ent.ent_id_
        e: Dict[str, Any] = {"entity": kind, "value": value, "start": ent.start_char,
                             "end": ent.end_char, "text": ent.text}
        if kind not in ("age", "needle_mm", "duration"):
            e.update(negated=ent._.negated, past=ent._.past, hypothetical=ent._.hypothetical)
            if ent._.uncertain:
                e["uncertain"] = True
            if ent._.negation_cue:
                e["negation_cue"] = ent._.negation_cue
            if ent._.ago_days is not None:
                e["ago_days"] = ent._.ago_days
        out.append(e)
    if getattr(doc._, "rest_false", False):
        out.append({"entity": "rest_false", "value": "true", "start": 0, "end": 0})
    return out
