"""Rasa custom actions: thin adapters between the tracker and the pure-Python core
(actions.triage for decisions, actions.dialogue for state and wording)."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.dialogue import render
from actions.dialogue.state import (KB, MODES, assessment_for, cleared_health_slots,
                                    next_question, q_slot, slot_updates)

FORM = "intake_form"


def _say(dispatcher: CollectingDispatcher, messages: List[Dict[str, Any]]) -> None:
    for m in messages:
        dispatcher.utter_message(**m)


def _slots(tracker: Tracker) -> Dict[str, Any]:
    return dict(tracker.current_slot_values())


def _set_since_user_message(tracker: Tracker) -> Dict[str, Any]:
    changed: Dict[str, Any] = {}
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "slot" and event.get("name") != "requested_slot":
            changed.setdefault(event["name"], event.get("value"))
    return changed


class ExtractFacts(Action):
    """Runs after every user message: maps what the NLU found to the canonical slots."""

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher, tracker: Tracker, domain) -> List[Dict[str, Any]]:
        msg = tracker.latest_message or {}
        intent = (msg.get("intent") or {}).get("name")
        in_form = tracker.active_loop_name == FORM
        updates = slot_updates(_slots(tracker), msg.get("entities") or [], intent,
                               msg.get("text") or "", tracker.get_slot("requested_slot"), in_form)
        mode = (msg.get("metadata") or {}).get("mode")
        if mode in MODES and mode != tracker.get_slot("mode"):
            updates["mode"] = mode
        return [SlotSet(k, v) for k, v in updates.items()]


class ValidateIntakeForm(Action):
    """Decides the intake form's next question from the engine's `missing` list."""

    def name(self) -> Text:
        return "validate_intake_form"

    async def run(self, dispatcher, tracker: Tracker, domain) -> List[Dict[str, Any]]:
        # Re-state what this message changed, so the form knows the message answered something
        # (a message that changed nothing, like "why do you ask?", lets the rules take over).
        events = [SlotSet(k, v) for k, v in _set_since_user_message(tracker).items()]
        slots = _slots(tracker)
        if slots.get("red_flags"):
            nxt = None  # a red flag ends the intake at once, consent or not
        elif slots.get("consent") is None:
            nxt = "consent"
        elif slots.get("consent") is False:
            nxt = None
        else:
            qid = next_question(slots, assessment_for(slots))
            nxt = q_slot(qid) if qid else None
        return events + [SlotSet("requested_slot", nxt)]


class AskConsent(Action):
    def name(self) -> Text:
        return "action_ask_consent"

    async def run(self, dispatcher, tracker, domain):
        _say(dispatcher, render.consent_messages())
        return []


class AskQuestion(Action):
    """Asks one question of the knowledge base; one subclass per question (below)."""

    qid = ""

    def name(self) -> Text:
        return f"action_ask_{q_slot(self.qid)}" if self.qid else "action_ask_question_base"

    async def run(self, dispatcher, tracker: Tracker, domain):
        slots = _slots(tracker)
        clarify = slots.get("clarify") == "which"
        _say(dispatcher, [render.question_message(self.qid, assessment_for(slots), clarify)])
        return [SlotSet("clarify", None)] if clarify else []


for _q in KB.raw["questions"]:
    globals()[f"AskQuestion_{_q['id']}"] = type(f"AskQuestion_{_q['id']}", (AskQuestion,),
                                                 {"qid": _q["id"]})


class TriageAnswer(Action):
    """Gives the assessment: disposition, reasons with sources, home plan, mode's close."""

    def name(self) -> Text:
        return "action_triage_answer"

    async def run(self, dispatcher, tracker: Tracker, domain):
        slots = _slots(tracker)
        if slots.get("consent") is False and not slots.get("red_flags"):
            dispatcher.utter_message(**render.consent_refused())
            return [SlotSet(k, v) for k, v in cleared_health_slots(slots).items()]
        assessment = assessment_for(slots)
        _say(dispatcher, render.answer_messages(assessment, slots.get("mode") or "shop"))
        return [SlotSet("disposition", assessment["disposition"]),
                SlotSet("assessment", assessment)]


class Explain(Action):
    """"Why?": during the intake, why this question; after the answer, why this answer."""

    def name(self) -> Text:
        return "action_explain"

    async def run(self, dispatcher, tracker: Tracker, domain):
        requested = tracker.get_slot("requested_slot")
        if tracker.active_loop_name == FORM and requested:
            qid = None if requested == "consent" else requested[2:]
            dispatcher.utter_message(**render.why_question(qid))
        else:
            _say(dispatcher, render.explain_answer(tracker.get_slot("assessment")))
        return []


class Faq(Action):
    """Answers the questions people ask, from the knowledge base."""

    def name(self) -> Text:
        return "action_faq"

    async def run(self, dispatcher, tracker: Tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        dispatcher.utter_message(**render.faq_message(intent.replace("faq_", "", 1)))
        return []


class Rephrase(Action):
    """Two-stage fallback, first stage: ask the person to say it another way."""

    def name(self) -> Text:
        return "action_default_ask_rephrase"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=KB.raw["fallback"]["rephrase"])
        return []


class GiveUp(Action):
    """Two-stage fallback, last stage (and core fallback): say what the person can do,
    and go back to what was being asked."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=KB.raw["fallback"]["give_up"])
        return [UserUtteranceReverted()]
