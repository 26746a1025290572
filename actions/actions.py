"""Rasa custom actions: thin adapters between the tracker and the pure-Python core
(actions.triage for decisions, actions.dialogue for state and wording)."""
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (ActiveLoop, ConversationPaused, FollowupAction, SlotSet,
                             UserUtteranceReverted)
from rasa_sdk.executor import CollectingDispatcher

from actions.dialogue import handoff, render
from actions.nlu.facts import looks_like_question
from actions.dialogue.state import (CONFIRM, FACTS, KB, MODES, UNKNOWN, assessment_for,
                                    cleared_health_slots, count_ask, intake_from_slots,
                                    next_question, q_slot, slot_updates, stalled, times_asked)
from actions.storage import default_store

FORM = "intake_form"
logger = logging.getLogger(__name__)
# What a person tells about themselves: a change re-assesses (policy section 9).
STATED = tuple(FACTS) + ("age", "skin_type", "concerns", "areas", "device_type", "needle_mm",
                         "recent_procedures")
# Messages that interrupt a question rather than try to answer it: not counted as an attempt.
INTERRUPTIONS = ("ask_why", "bot_challenge", "out_of_scope", "thank", "request_human")


def _store_call(what: str, fn, *args, **kwargs) -> Optional[Any]:
    """Records are kept best-effort: a database hiccup never breaks the conversation.
    The log names the operation only, never message text or health facts."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        logger.error("storage: %s failed (%s)", what, exc.__class__.__name__)
        return None


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
        metadata = msg.get("metadata") or {}
        mode = metadata.get("mode")
        if mode in MODES and mode != tracker.get_slot("mode"):
            updates["mode"] = mode
        clinic = str(metadata.get("clinic_id") or metadata.get("shop_id") or "")[:64]
        if clinic and not tracker.get_slot("clinic_id"):  # set once: a later message never moves it
            updates["clinic_id"] = clinic
        slots = _slots(tracker)
        changes = dict(slots.get("changed_facts") or {})
        for fact in FACTS:
            if fact in updates and slots.get(fact) is not None and updates[fact] != slots.get(fact):
                changes[fact] = changes.get(fact, 0) + 1
        if changes != (slots.get("changed_facts") or {}):
            updates["changed_facts"] = changes
        slots.update(updates)
        channel = tracker.get_latest_input_channel()
        store = default_store()
        if "consent" in updates:
            _store_call("record consent", store.record_consent, tracker.sender_id,
                        updates["consent"], channel)
        if slots.get("consent") is True and updates:
            _store_call("save intake", store.save_intake, tracker.sender_id,
                        intake_from_slots(slots), channel, slots.get("mode"),
                        slots.get("clinic_id"))
        events = [SlotSet(k, v) for k, v in updates.items()]
        if tracker.is_paused() and updates.get("red_flags"):
            # waiting for a person, and a warning sign now: it is answered at once anyway
            # (Rasa keeps only slots and messages from this action: the case is updated here)
            return events + _answer_while_paused(dispatcher, tracker, slots)
        return events


def _unrecognised_correction(tracker: Tracker, slots: Dict[str, Any]) -> bool:
    """After an answer, "scratch that …" / "actually …" with nothing recognised in it: the
    answer must not simply stand; the person is asked what changed."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if not slots.get("assessment") or intent in ("thank", "goodbye") \
            or any(k in _set_since_user_message(tracker) for k in STATED):
        return False
    raw = ((tracker.latest_message or {}).get("text") or "").lower().replace("’", "'")
    text = " " + " ".join(re.findall(r"[a-z0-9']+", raw)) + " "
    return any(f" {cue} " in text for cue in KB.raw["lexicon"]["cues"]["correction"])


class AfterMessage(Action):
    """Outside the intake, a short reply or an aside can still change everything: a "yes"
    after refusing consent starts the intake ("sorry, I meant yes"); a fact changed after the
    answer re-assesses ("scratch that, the test is positive", however the classifier named
    it). Otherwise the usual short reply."""

    REPLIES = {"thank": "utter_you_are_welcome", "out_of_scope": "utter_out_of_scope"}

    def name(self) -> Text:
        return "action_after_message"

    async def run(self, dispatcher, tracker: Tracker, domain):
        changed = _set_since_user_message(tracker)
        slots = _slots(tracker)
        stated = any(k in changed for k in STATED)
        if changed.get("consent") is True or (stated and (
                slots.get("consent") is True
                or (slots.get("consent") is None and not slots.get("assessment")))):
            return [FollowupAction(FORM)]
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if _unrecognised_correction(tracker, slots):
            dispatcher.utter_message(text=KB.raw["dialogue"]["recap"]["correcting"])
            return []
        dispatcher.utter_message(response=self.REPLIES.get(intent, "utter_anything_else"))
        return []


def _answer_while_paused(dispatcher: CollectingDispatcher, tracker: Tracker,
                         slots: Dict[str, Any]) -> List[Dict[str, Any]]:
    assessment = assessment_for(slots)
    _say(dispatcher, render.answer_messages(assessment, slots.get("mode") or "shop"))
    return [SlotSet("disposition", assessment["disposition"]), SlotSet("assessment", assessment)] \
        + _hand_off(dispatcher, tracker, "red_flag", assessment, slots)


class ValidateIntakeForm(Action):
    """Decides the intake form's next question from the engine's `missing` list."""

    def name(self) -> Text:
        return "validate_intake_form"

    async def run(self, dispatcher, tracker: Tracker, domain) -> List[Dict[str, Any]]:
        # Re-state what this message changed, so the form knows the message answered something
        # (a message that changed nothing, like "why do you ask?", lets the rules take over;
        # so does a question, even one naming a device: "how do I clean my roller?").
        msg = tracker.latest_message or {}
        intent = (msg.get("intent") or {}).get("name") or ""
        asking = (intent in INTERRUPTIONS or intent.startswith("faq_")) \
            and looks_like_question(msg.get("text") or "")
        changed = {} if asking else _set_since_user_message(tracker)
        events = [SlotSet(k, v) for k, v in changed.items()]
        slots = _slots(tracker)
        for e in events:
            slots[e["name"]] = e["value"]
        nxt: Optional[str] = None
        if slots.get("red_flags"):
            nxt = None  # a red flag ends the intake at once, consent or not
        elif slots.get("consent") is None:
            if stalled(slots, "consent", {}):
                events.append(SlotSet("consent", False))  # never a fourth time
            else:
                nxt = "consent"
        elif slots.get("consent") is True and slots.get("stuck") == CONFIRM:
            nxt = None  # the recap could not be confirmed: a person takes over
        elif slots.get("consent") is True:
            while True:
                assessment = assessment_for(slots)
                qid = next_question(slots, assessment)
                if qid is None or not stalled(slots, qid, assessment):
                    nxt = q_slot(qid) if qid else None
                    break
                if qid == CONFIRM:
                    events.append(SlotSet("stuck", CONFIRM))  # a person takes over
                    break
                # asked three times, still not understood: not known, and move on
                dispatcher.utter_message(text=KB.raw["dialogue"]["moved_on"])
                events.append(SlotSet(q_slot(qid), UNKNOWN))
                slots[q_slot(qid)] = UNKNOWN
        return events + [SlotSet("requested_slot", nxt)]


class AskConsent(Action):
    def name(self) -> Text:
        return "action_ask_consent"

    async def run(self, dispatcher, tracker, domain):
        slots = _slots(tracker)
        asked = _counted(tracker, slots, "consent", {})
        _say(dispatcher, render.consent_messages(asked["consent"][0]))
        return [SlotSet("asked", asked)]


def _counted(tracker: Tracker, slots: Dict[str, Any], qid: str,
             assessment: Dict[str, Any]) -> Dict[str, Any]:
    """The ask counts after asking qid now (an interruption like "why?" is not an attempt)."""
    msg = tracker.latest_message or {}
    intent = (msg.get("intent") or {}).get("name") or ""
    # only a real question ("why do you ask?", "how do I clean it?") is not an attempt;
    # anything else the assistant could not use counts, so nothing is asked a fourth time
    if (intent == "ask_why" or intent.startswith("faq_")) and times_asked(slots, qid) \
            and looks_like_question(msg.get("text") or ""):
        return dict(slots.get("asked") or {})
    return count_ask(slots, qid, assessment)


class AskQuestion(Action):
    """Asks one question of the knowledge base; one subclass per question (below)."""

    qid = ""

    def name(self) -> Text:
        return f"action_ask_{q_slot(self.qid)}" if self.qid else "action_ask_question_base"

    async def run(self, dispatcher, tracker: Tracker, domain):
        return _ask(dispatcher, tracker, self.qid)


def _ask(dispatcher: CollectingDispatcher, tracker: Tracker, qid: str) -> List[Dict[str, Any]]:
    slots = _slots(tracker)
    assessment = assessment_for(slots)
    asked = _counted(tracker, slots, qid, assessment)
    clarify = slots.get("clarify")
    _say(dispatcher, [render.question_message(qid, assessment, clarify, asked[qid][0], slots)])
    return [SlotSet("asked", asked)] + ([SlotSet("clarify", None)] if clarify else [])


for _q in [q["id"] for q in KB.raw["questions"]] + [CONFIRM]:
    globals()[f"AskQuestion_{_q}"] = type(f"AskQuestion_{_q}", (AskQuestion,), {"qid": _q})


class TriageAnswer(Action):
    """Gives the assessment: disposition, reasons with sources, home plan, mode's close."""

    def name(self) -> Text:
        return "action_triage_answer"

    async def run(self, dispatcher, tracker: Tracker, domain):
        slots = _slots(tracker)
        if slots.get("stuck") == CONFIRM and not slots.get("red_flags"):
            # the recap was never confirmed: no home answer; a person takes over
            dispatcher.utter_message(text=KB.raw["dialogue"]["recap"]["gave_up"])
            return [SlotSet("stuck", None)] + _hand_off(dispatcher, tracker, "not_understood")
        if slots.get("consent") is False and not slots.get("red_flags"):
            dispatcher.utter_message(**render.consent_refused())
            # health questions declined: nothing rules out a contraindication, which the
            # policy answers with a professional (section 3); no health data is kept
            declined = assessment_for({})["disposition"]
            return [SlotSet(k, v) for k, v in cleared_health_slots(slots).items()
                    if k != "disposition"] + [SlotSet("disposition", declined)]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "report_symptom" and not slots.get("red_flags") \
                and tracker.latest_action_name != FORM:
            if any(k in _set_since_user_message(tracker) for k in STATED) \
                    and not slots.get("assessment") and slots.get("consent") is not False:
                # not a symptom: someone telling about themselves ("my baby is 4 months
                # and I'm still breastfeeding"): the intake starts with what they said
                return [FollowupAction(FORM)]
            # A problem after a treatment, but no warning sign named: say what is normal and
            # what is not, rather than a verdict on home use.
            dispatcher.utter_message(**render.faq_message("redness"))
            return []
        if _unrecognised_correction(tracker, slots) and not slots.get("red_flags"):
            # "scratch that, …" and nothing in it recognised: not the same answer again
            dispatcher.utter_message(text=KB.raw["dialogue"]["recap"]["correcting"])
            return []
        assessment = assessment_for(slots)
        _say(dispatcher, render.answer_messages(assessment, slots.get("mode") or "shop"))
        intake = intake_from_slots(slots)
        if slots.get("consent") is True:
            _store_call("save assessment", default_store().save_assessment, tracker.sender_id,
                        intake, assessment)
        events = [SlotSet("disposition", assessment["disposition"]),
                  SlotSet("assessment", assessment)]
        # Tricky cases go to a person straight away, with everything gathered.
        reason = None
        if slots.get("red_flags"):
            reason = "red_flag"
        elif any(n >= 2 for n in (slots.get("changed_facts") or {}).values()):
            reason = "conflicting_answers"
        if reason:
            events += _hand_off(dispatcher, tracker, reason, assessment)
        return events


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
        slots = _slots(tracker)
        stated = any(k in _set_since_user_message(tracker) for k in STATED)
        if tracker.active_loop_name or slots.get("consent") is False:
            return []
        if slots.get("assessment"):
            # after the answer, a question that changes a fact ("ok, and with the 0.5 one
            # instead?") is answered and re-assessed
            return [FollowupAction(FORM)] if stated and slots.get("consent") else []
        # an opening phrased as a question ("is a 1 mm roller ok for the lines round my
        # mouth? 44M"): answered, then the intake starts with everything it said
        if stated:
            return [FollowupAction(FORM)]
        dispatcher.utter_message(text=KB.raw["dialogue"]["faq_then_intake"],
                                 buttons=[{"title": "Yes, check for me", "payload": "/start"}])
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

    async def run(self, dispatcher, tracker: Tracker, domain):
        if tracker.active_loop_name == "action_two_stage_fallback" or _failed_in_a_row(tracker) >= 2:
            # two messages in a row not understood: a person takes over
            dispatcher.utter_message(text=KB.raw["fallback"]["give_up"])
            return [UserUtteranceReverted()] + _hand_off(dispatcher, tracker, "not_understood")
        requested = tracker.get_slot("requested_slot")
        slots = _slots(tracker)
        if tracker.active_loop_name == FORM and requested and requested.startswith("q_"):
            qid = requested[2:]
            assessment = assessment_for(slots)
            if stalled(slots, qid, assessment):
                # asked three times: the intake moves on without it (never a fourth time)
                return [UserUtteranceReverted(), FollowupAction(FORM)] + (
                    [SlotSet(q_slot(qid), UNKNOWN)] if qid != CONFIRM else
                    [SlotSet("stuck", CONFIRM), SlotSet("requested_slot", None)])
            dispatcher.utter_message(text=KB.raw["fallback"]["not_understood"])
            return [UserUtteranceReverted()] + _ask(dispatcher, tracker, qid)
        dispatcher.utter_message(text=KB.raw["fallback"]["not_understood"])
        if tracker.active_loop_name == FORM and requested == "consent":
            asked = count_ask(slots, "consent", {})
            _say(dispatcher, render.consent_messages(asked["consent"][0])[-1:])
            return [UserUtteranceReverted(), SlotSet("asked", asked)]
        return [UserUtteranceReverted()]


def _failed_in_a_row(tracker: Tracker) -> int:
    n = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != "nlu_fallback":
                break
            n += 1
    return n


class AskAffirmation(Action):
    """Two-stage fallback, first stage: "Did you mean ...?" in plain words (never an intent
    name), with Yes / No buttons."""

    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher, tracker: Tracker, domain):
        ranking = tracker.latest_message.get("intent_ranking") or []
        labels = KB.raw["fallback"]["intent_labels"]
        guess = next((r.get("name") for r in ranking if r.get("name") in labels), None)
        if guess is None:
            dispatcher.utter_message(text=KB.raw["fallback"]["rephrase"])
            return []
        dispatcher.utter_message(
            text=KB.raw["fallback"]["did_you_mean"].format(label=labels[guess]),
            buttons=[{"title": "Yes", "payload": f"/{guess}"}, {"title": "No", "payload": "/deny"}])
        return []


def _hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
              assessment: Optional[Dict[str, Any]] = None,
              slots: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Opens (or updates) the case for a person, tells the person what happens next, and
    pauses the assistant until an agent hands the chat back."""
    slots = slots if slots is not None else _slots(tracker)
    assessment = assessment or slots.get("assessment") or assessment_for(slots)
    channel = tracker.get_latest_input_channel()
    mode = slots.get("mode") or "shop"
    summary = handoff.summary(reason, intake_from_slots(slots), assessment,
                              list(tracker.events), channel, mode, slots.get("consent"))
    ticket = _store_call("open ticket", default_store().open_ticket, tracker.sender_id, reason,
                         summary["urgency"], summary, channel, mode, slots.get("clinic_id"))
    if ticket is None:
        dispatcher.utter_message(text=KB.raw["handoff"]["next_steps"]["unavailable"])
        return []
    _say(dispatcher, handoff.next_steps_messages(summary["urgency"]))
    events: List[Dict[str, Any]] = [SlotSet("ticket_id", ticket)]
    if tracker.active_loop_name:
        events.append(ActiveLoop(None))
    return events + [ConversationPaused()]


class Handoff(Action):
    """The person asks for a person, disputes the answer or wants to discuss it."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher, tracker: Tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        disposition = tracker.get_slot("disposition")
        if intent == "dispute" and not disposition:
            # nothing to dispute yet: a misread opening; the intake starts instead
            return [FollowupAction(FORM)]
        if intent == "dispute" and disposition in ("professional_consult", "do_not_treat"):
            reason = "disputed_answer"
        elif disposition == "professional_consult":
            reason = "discuss_contraindication"
        else:
            reason = "request_human"
        return _hand_off(dispatcher, tracker, reason)


class AskDelete(Action):
    """"Delete my data": ask for confirmation first (it cannot be undone)."""

    def name(self) -> Text:
        return "action_ask_delete"

    async def run(self, dispatcher, tracker: Tracker, domain):
        dispatcher.utter_message(text=KB.raw["privacy"]["confirm_delete"],
                                 buttons=[{"title": "Yes, delete", "payload": "/affirm"},
                                          {"title": "No, keep it", "payload": "/deny"}])
        return [ActiveLoop(None)] if tracker.active_loop_name else []


class DeleteData(Action):
    """After confirmation, erase the person's records; the tracker store erases the tracker
    when it sees `erase_requested` (actions/tracker_store.py), so nothing is written back."""

    def name(self) -> Text:
        return "action_delete_data"

    async def run(self, dispatcher, tracker: Tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent != "affirm":
            dispatcher.utter_message(text=KB.raw["privacy"]["kept"])
            return []
        _store_call("delete conversation", default_store().delete_conversation,
                    tracker.sender_id)
        dispatcher.utter_message(text=KB.raw["privacy"]["deleted"])
        return [SlotSet("erase_requested", True)]
