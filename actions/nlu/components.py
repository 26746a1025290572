"""Rasa NLU component: turns the project's spaCy entities into Rasa entities.

It reads the spaCy doc that SpacyNLP made with the project's pipeline (entity ruler plus
`fact_context`) and adds one Rasa entity per mention, carrying what `fact_context` found:
negated, past, hypothetical, ago_days, negation_cue. Nothing is trained.
"""
import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (ENTITIES, INTENT, INTENT_NAME_KEY,
                                       PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.nlu import spacy_pipeline  # noqa: F401 (registers the spaCy component)
from actions.nlu.entities import entities_from_doc
from actions.nlu.facts import looks_like_question
from actions.triage.engine import default_kb
from actions import rasa_patches

rasa_patches.install()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class FactEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds the lexicon's mentions (facts, concerns, areas, ...) as entities."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def required_components(cls) -> List[type]:
        return []

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FactEntityExtractor":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            found = entities_from_doc(doc)
            for e in found:
                e["extractor"] = self.__class__.__name__
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


WARNING_SIGN_FLAGS = ("negated", "hypothetical", "family", "stopped")
# The words without which a guessed request is not taken (the knowledge base's lexicon,
# `intent_words`): erasing is never done on a guess, and a message naming no person nor a way
# to reach one ("😀 ✨") is no request for a person.
_WORDS = default_kb().raw["lexicon"]["intent_words"]
DELETE_WORDS = frozenset(_WORDS["delete_data"])
PERSON_NOUNS = frozenset(_WORDS["person_nouns"])
PERSON_WORDS = PERSON_NOUNS | frozenset(_WORDS["reach_words"])
ASKS_TO_TALK = tuple(_WORDS["asks_to_talk"])
STATEMENT_ENTITIES = ("fact", "concern", "area", "device", "procedure", "age", "needle_mm",
                      "skin_type")
QUESTION_INTENTS = ("ask_why", "out_of_scope", "bot_challenge")


def _asks_for_a_person(text: str) -> bool:
    """Asks to talk to someone ("talk to", "put me through") and names a person or a way to
    reach one."""
    said = " " + " ".join(re.findall(r"[a-z']+", text.lower())) + " "
    return any(f" {p} " in said for p in ASKS_TO_TALK) and bool(
        PERSON_NOUNS & set(said.split()))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class IntentCorrector(GraphComponent):
    """Runs after DIET and the FallbackClassifier and corrects the guesses that cost people
    dearly: a warning sign is always `report_symptom`, whatever else the message asks ("my
    lips are swelling, is that normal?" must get the emergency answer, not the FAQ); and a
    message that states facts is never `nlu_fallback` ("did you mean ...?" would drop them)
    nor a dispute of the answer, it is `inform`."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "IntentCorrector":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            entities = message.get(ENTITIES) or []
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            new = None
            if any(e.get("entity") == "red_flag" and not any(e.get(f) for f in WARNING_SIGN_FLAGS)
                   for e in entities):
                new = "report_symptom"
            elif intent == "delete_data" and not DELETE_WORDS & set(
                    re.findall(r"[a-z]+", (message.get(TEXT) or "").lower())):
                # erasing is never done on a guess: no word about deleting, no deletion
                new = "inform" if any(e.get("entity") in STATEMENT_ENTITIES for e in entities) \
                    else "out_of_scope"
            elif intent in ("bot_challenge", "out_of_scope", "nlu_fallback") and _asks_for_a_person(
                    message.get(TEXT) or ""):
                new = "request_human"  # "can I talk to a real person please?"
            elif intent == "request_human" and not PERSON_WORDS & set(
                    re.findall(r"[a-z]+", (message.get(TEXT) or "").lower())):
                new = "inform" if any(e.get("entity") in STATEMENT_ENTITIES for e in entities) \
                    else "nlu_fallback"
            elif any(e.get("entity") in STATEMENT_ENTITIES for e in entities) and (
                    intent in ("nlu_fallback", "dispute") or (
                        intent in QUESTION_INTENTS or str(intent).startswith("faq_"))
                    and (not looks_like_question(message.get(TEXT) or "")
                         or any(e.get("entity") == "area" and e.get("negated")
                                for e in entities))):
                # ... and a place taken back is a change of plan, even asked as a question
                # ("forget my lips then, can I just do my cheeks?")
                # "I'm not on roaccutane anymore, I finished in September" is not an FAQ;
                # "sorry, I read that wrong, I'm not on it anymore" corrects the answer with
                # facts: it is re-assessed (a dispute with no fact still goes to a person)
                new = "inform"
            if new and new != intent:
                message.set(INTENT, {INTENT_NAME_KEY: new, PREDICTED_CONFIDENCE_KEY: 1.0},
                            add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
