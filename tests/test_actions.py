"""Unit tests of the Rasa custom actions (actions/actions.py), with a rasa_sdk Tracker and a
CollectingDispatcher: what the person would notice (messages, buttons) and which slots change.

No Rasa server or model is needed. Actions are async, so each test runs them with asyncio.run.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also when run as plain `pytest`, not `python -m pytest`
    sys.path.insert(0, str(REPO))

from actions import actions as A  # noqa: E402
from actions.dialogue.state import KB, QUESTIONS  # noqa: E402
from actions.storage import Store  # noqa: E402
from actions.triage.engine import assess  # noqa: E402

FORM = "intake_form"
EXAMPLE = json.loads((REPO / "examples" / "home_suitable.json").read_text(encoding="utf-8"))
HEALTH_ITEMS = list(QUESTIONS["health"]["items"])
PROFILE = {"concerns": ["texture"], "areas": ["cheeks"], "age": 30}


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Path:
    """An SQLite file with the project's schema, migrated once (Alembic) and copied per test."""
    path = tmp_path_factory.mktemp("actions-db") / "template.db"
    template = Store(f"sqlite:///{path}")
    template.migrate()
    template.engine.dispose()
    return path


@pytest.fixture(autouse=True)
def store(monkeypatch, tmp_path, migrated_database) -> Iterator[Store]:
    """The project's real storage (actions/storage.py) on a fresh temporary SQLite database
    per test, in place of var/: the actions' records are really written and can be read back.
    A storage error fails the test (in production, _store_call logs it and carries on)."""
    path = tmp_path / "triage.db"
    shutil.copy(migrated_database, path)
    real = Store(f"sqlite:///{path}")
    monkeypatch.setattr(A, "default_store", lambda: real)

    def strict_store_call(what: str, fn, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    monkeypatch.setattr(A, "_store_call", strict_store_call)
    yield real
    real.engine.dispose()


def home_slots(**extra: Any) -> Dict[str, Any]:
    """Slots of someone who consented and said no to every health question
    (the facts of examples/home_suitable.json)."""
    slots: Dict[str, Any] = dict(EXAMPLE["facts"])
    slots.update(consent=True, age=EXAMPLE["age"], concerns=list(EXAMPLE["concerns"]),
                 areas=list(EXAMPLE["areas"]), device_type=EXAMPLE["device"]["type"],
                 needle_mm=EXAMPLE["device"]["needle_mm"], skin_type=EXAMPLE["skin_type"])
    slots.update(extra)
    return slots


def run(action, dispatcher, tracker, domain) -> List[Dict[str, Any]]:
    return asyncio.run(action.run(dispatcher, tracker, domain))


def slot_events(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(dispatcher) -> List[str]:
    return [m.get("text") or "" for m in dispatcher.messages]


def all_text(dispatcher) -> str:
    return "\n".join(texts(dispatcher))


def payloads(message: Dict[str, Any]) -> List[str]:
    return [b["payload"] for b in message.get("buttons") or []]


def source_titles(ids) -> List[str]:
    return [KB.sources[s]["title"] for s in ids]


def fact(value: str, **context: Any) -> Dict[str, Any]:
    """A `fact` entity as the NLU (or a button payload) gives it."""
    return {"entity": "fact", "value": value, **context}


# =========================================================== action_validate_slot_mappings

class TestExtractFacts:
    action = A.ExtractFacts()

    def extract(self, dispatcher, make_tracker, domain, **kw) -> Dict[str, Any]:
        events = run(self.action, dispatcher, make_tracker(**kw), domain)
        assert dispatcher.messages == []  # it never speaks
        return slot_events(events)

    def test_name(self):
        assert self.action.name() == "action_validate_slot_mappings"

    def test_not_pregnant_sets_pregnant_false(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="I'm not pregnant",
                             intent="inform",
                             entities=[fact("pregnant", negated=True, negation_cue="not")])
        assert slots == {"pregnant": False}

    def test_pregnant_sets_pregnant_true(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="I'm pregnant",
                             intent="inform", entities=[fact("pregnant")])
        assert slots == {"pregnant": True}

    def test_isotretinoin_two_years_ago(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain,
                             text="I stopped Accutane two years ago", intent="inform",
                             entities=[fact("isotretinoin_current", past=True, ago_days=730)])
        assert slots == {"isotretinoin_current": False, "isotretinoin_ever": True,
                         "isotretinoin_stopped_months_ago": 24.0}

    def test_none_of_these_sets_every_unknown_health_item_false(self, dispatcher, make_tracker,
                                                                domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="None of these",
                             intent="deny", active_loop=FORM,
                             slots={"consent": True, **PROFILE, "requested_slot": "q_health"})
        assert slots == {item: False for item in HEALTH_ITEMS}

    def test_none_of_these_leaves_known_answers_alone(self, dispatcher, make_tracker, domain):
        # "Diabetes" was tapped before; "None of these" afterwards must not undo it.
        slots = self.extract(dispatcher, make_tracker, domain, text="None of these",
                             intent="deny", active_loop=FORM,
                             slots={"consent": True, **PROFILE, "requested_slot": "q_health",
                                    "diabetes": True, "pregnant": False})
        assert slots == {item: False for item in HEALTH_ITEMS
                         if item not in ("diabetes", "pregnant")}

    def test_deny_outside_the_form_sets_nothing(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="no", intent="deny",
                             slots={"consent": True, **PROFILE, "requested_slot": "q_health"})
        assert slots == {}

    def test_dont_know_marks_the_question_unknown(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="I don't know",
                             intent="dont_know", active_loop=FORM,
                             slots={"consent": True, **PROFILE, "requested_slot": "q_health"})
        assert slots == {"q_health": "unknown"}

    @pytest.mark.parametrize("intent, expected", [("affirm", True), ("deny", False)],
                             ids=["affirm-consents", "deny-refuses"])
    def test_consent_answer(self, dispatcher, make_tracker, domain, intent, expected):
        slots = self.extract(dispatcher, make_tracker, domain, text="/" + intent, intent=intent,
                             active_loop=FORM, slots={"requested_slot": "consent"})
        assert slots == {"consent": expected}

    def test_clinic_mode_from_metadata(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="hi", intent="greet",
                             metadata={"mode": "clinic"})
        assert slots == {"mode": "clinic"}

    @pytest.mark.parametrize("metadata", [{"mode": "shop"}, {"mode": "admin"}, {}],
                             ids=["same-as-slot", "unknown-mode", "no-metadata"])
    def test_mode_unchanged(self, dispatcher, make_tracker, domain, metadata):
        slots = self.extract(dispatcher, make_tracker, domain, text="hi", intent="greet",
                             metadata=metadata, slots={"mode": "shop"})
        assert slots == {}

    def test_red_flag_is_recorded(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="there's pus",
                             intent="report_symptom",
                             entities=[{"entity": "red_flag", "value": "pus"}])
        assert slots == {"red_flags": ["pus"]}

    def test_red_flags_accumulate(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="pus and fever",
                             intent="report_symptom", slots={"red_flags": ["fever"]},
                             entities=[{"entity": "red_flag", "value": "pus"},
                                       {"entity": "red_flag", "value": "fever"}])
        assert slots == {"red_flags": ["fever", "pus"]}

    @pytest.mark.parametrize("intent", sorted(f"faq_{k}" for k in KB.raw["faqs"]))
    def test_faq_question_keeps_the_area_it_names(self, dispatcher, make_tracker, domain,
                                                  intent):
        # an opening phrased as a question starts the intake with what it says (issue 9)
        slots = self.extract(dispatcher, make_tracker, domain,
                             text="how deep can I go on my nose?", intent=intent,
                             entities=[{"entity": "area", "value": "nose"}])
        assert slots == {"areas": ["nose"]}

    def test_faq_question_states_no_denial(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain,
                             text="is it ok if I'm not pregnant?", intent="faq_depth",
                             entities=[fact("pregnant", negated=True)])
        assert slots == {}

    def test_red_flag_inside_a_faq_still_counts(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="is pus normal?",
                             intent="faq_redness",
                             entities=[{"entity": "red_flag", "value": "pus"}])
        assert slots == {"red_flags": ["pus"]}

    def test_hypothetical_sets_nothing(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain, text="what if I'm pregnant?",
                             intent="inform", entities=[fact("pregnant", hypothetical=True)])
        assert slots == {}

    def test_profile_answer(self, dispatcher, make_tracker, domain):
        slots = self.extract(dispatcher, make_tracker, domain,
                             text="fine lines on my forehead, I'm 34", intent="inform",
                             active_loop=FORM, slots={"consent": True,
                                                      "requested_slot": "q_profile"},
                             entities=[{"entity": "concern", "value": "fine_lines_wrinkles"},
                                       {"entity": "area", "value": "forehead"},
                                       {"entity": "age", "value": 34.0}])
        assert slots == {"concerns": ["fine_lines_wrinkles"], "areas": ["forehead"], "age": 34}


# ================================================================== validate_intake_form

class TestValidateIntakeForm:
    action = A.ValidateIntakeForm()

    def requested(self, dispatcher, make_tracker, domain, slots, **kw):
        events = run(self.action, dispatcher, make_tracker(slots=slots, active_loop=FORM, **kw),
                     domain)
        assert events[-1]["name"] == "requested_slot"
        return events[-1]["value"]

    def test_name(self):
        assert self.action.name() == "validate_intake_form"

    def test_consent_comes_first(self, dispatcher, make_tracker, domain):
        assert self.requested(dispatcher, make_tracker, domain, {}) == "consent"

    def test_consent_refused_ends_the_form(self, dispatcher, make_tracker, domain):
        assert self.requested(dispatcher, make_tracker, domain, {"consent": False}) is None

    def test_red_flag_ends_the_form_even_without_consent(self, dispatcher, make_tracker, domain):
        assert self.requested(dispatcher, make_tracker, domain, {"red_flags": ["pus"]}) is None

    def test_complete_all_no_intake_asks_for_the_recap_first(self, dispatcher, make_tracker,
                                                             domain):
        assert self.requested(dispatcher, make_tracker, domain, home_slots()) == "q_confirm"

    def test_confirmed_recap_ends_the_form(self, dispatcher, make_tracker, domain):
        from actions.dialogue.state import intake_fingerprint
        slots = home_slots()
        slots["confirmed"] = intake_fingerprint(slots)
        assert self.requested(dispatcher, make_tracker, domain, slots) is None

    def test_a_correction_after_the_recap_asks_for_it_again(self, dispatcher, make_tracker,
                                                            domain):
        from actions.dialogue.state import intake_fingerprint
        slots = home_slots()
        slots["confirmed"] = intake_fingerprint(slots)
        slots["age"] = 45
        assert self.requested(dispatcher, make_tracker, domain, slots) == "q_confirm"

    def test_a_question_asked_three_times_is_not_asked_a_fourth(self, dispatcher,
                                                               make_tracker, domain):
        slots = {"consent": True, **PROFILE, "asked": {"health": [3, 8]}}
        nxt = self.requested(dispatcher, make_tracker, domain, slots)
        assert nxt == "q_skin_now"
        assert texts(dispatcher) == [KB.raw["dialogue"]["moved_on"]]

    def test_an_unconfirmed_recap_after_three_asks_goes_to_a_person(self, dispatcher,
                                                                    make_tracker, domain):
        from actions.dialogue.state import intake_fingerprint
        slots = home_slots()
        slots["asked"] = {"confirm": [3, intake_fingerprint(slots)]}
        events = run(A.ValidateIntakeForm(), dispatcher,
                     make_tracker(slots=slots, active_loop=FORM), domain)
        assert slot_events(events)["stuck"] == "confirm"
        assert slot_events(events)["requested_slot"] is None

    def test_pregnancy_ends_the_form(self, dispatcher, make_tracker, domain):
        slots = {"consent": True, **PROFILE, "pregnant": True}
        assert self.requested(dispatcher, make_tracker, domain, slots) is None

    def test_nothing_known_asks_the_profile(self, dispatcher, make_tracker, domain):
        assert self.requested(dispatcher, make_tracker, domain, {"consent": True}) == "q_profile"

    def test_profile_known_asks_health(self, dispatcher, make_tracker, domain):
        slots = {"consent": True, **PROFILE}
        assert self.requested(dispatcher, make_tracker, domain, slots) == "q_health"

    def test_question_answered_dont_know_is_skipped(self, dispatcher, make_tracker, domain):
        slots = {"consent": True, **PROFILE, "q_health": "unknown"}
        assert self.requested(dispatcher, make_tracker, domain, slots) == "q_skin_now"

    def test_isotretinoin_in_the_past_asks_when(self, dispatcher, make_tracker, domain):
        slots = {"consent": True, **PROFILE, **{i: False for i in HEALTH_ITEMS},
                 "isotretinoin_ever": True}
        assert self.requested(dispatcher, make_tracker, domain, slots) == "q_isotretinoin_when"

    def test_restates_what_this_message_changed(self, dispatcher, make_tracker, domain):
        events = [{"event": "slot", "name": "pregnant", "value": True},
                  {"event": "user", "text": "I'm not pregnant"},
                  {"event": "slot", "name": "pregnant", "value": False},
                  {"event": "slot", "name": "requested_slot", "value": "q_health"}]
        out = run(self.action, dispatcher,
                  make_tracker(slots={"consent": True, **PROFILE, "pregnant": False},
                               active_loop=FORM, events=events), domain)
        assert out[0] == {"event": "slot", "timestamp": None, "name": "pregnant", "value": False}
        assert [e["name"] for e in out] == ["pregnant", "requested_slot"]


# ============================================================ action_ask_q_<question id>

ASK_ACTIONS = {q["id"]: getattr(A, f"AskQuestion_{q['id']}") for q in KB.raw["questions"]}


def ask(qid, dispatcher, make_tracker, domain, **slots):
    events = run(ASK_ACTIONS[qid](), dispatcher, make_tracker(slots={"consent": True, **slots},
                                                              active_loop=FORM), domain)
    assert len(dispatcher.messages) == 1
    return dispatcher.messages[0], events


@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_every_question_has_a_registered_ask_action(qid, domain):
    name = ASK_ACTIONS[qid]().name()
    assert name == f"action_ask_q_{qid}"
    assert name in domain["actions"]


@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_question_text_and_dont_know_button(qid, dispatcher, make_tracker, domain):
    message, events = ask(qid, dispatcher, make_tracker, domain)
    assert message["text"] == QUESTIONS[qid]["text"]
    assert message["buttons"][-1] == {"title": "I don't know", "payload": "/dont_know"}
    assert list(slot_events(events)) == ["asked"]  # counted: never more than three times


CHECKLISTS = [q for q, spec in QUESTIONS.items() if spec["kind"] == "checklist"]


@pytest.mark.parametrize("qid", CHECKLISTS)
def test_checklist_has_a_button_per_item_plus_none_and_dont_know(qid, dispatcher, make_tracker,
                                                                  domain):
    message, _ = ask(qid, dispatcher, make_tracker, domain)
    items = [i for i in QUESTIONS[qid]["items"] if i != "recent_procedures_asked"]
    assert payloads(message) == ([f'/inform{{"fact":"{i}"}}' for i in items]
                                 + ["/deny", "/dont_know"])
    assert [b["title"] for b in message["buttons"]][-2:] == ["None of these", "I don't know"]
    for b in message["buttons"]:  # people read labels, not ids
        assert "_" not in b["title"]


def test_health_checklist_lists_only_items_still_unknown(dispatcher, make_tracker, domain):
    message, _ = ask("health", dispatcher, make_tracker, domain, **PROFILE, pregnant=False,
                     breastfeeding=False, diabetes=True)
    assert message["text"].startswith("Anything else from this list?")
    facts = [json.loads(p[len("/inform"):])["fact"] for p in payloads(message)
             if p.startswith("/inform")]
    assert facts == ["isotretinoin_current", "isotretinoin_ever", "anticoagulant",
                     "bleeding_disorder", "immunosuppressed"]
    assert payloads(message)[-2:] == ["/deny", "/dont_know"]


def test_health_checklist_drops_past_isotretinoin_when_taking_it_now(dispatcher, make_tracker,
                                                                     domain):
    message, _ = ask("health", dispatcher, make_tracker, domain, **PROFILE, pregnant=False,
                     isotretinoin_current=False, isotretinoin_ever=False)
    assert '/inform{"fact":"isotretinoin_ever"}' not in payloads(message)
    assert '/inform{"fact":"isotretinoin_current"}' not in payloads(message)


def test_clarify_after_a_bare_yes(dispatcher, make_tracker, domain):
    message, events = ask("health", dispatcher, make_tracker, domain, **PROFILE, clarify="which")
    assert message["text"].startswith("Which of them?")
    assert '/inform{"fact":"pregnant"}' in payloads(message)
    assert slot_events(events)["clarify"] is None


@pytest.mark.parametrize("qid", [q for q, s in QUESTIONS.items() if s["kind"] == "yes_no"])
def test_yes_no_question_buttons(qid, dispatcher, make_tracker, domain):
    message, _ = ask(qid, dispatcher, make_tracker, domain)
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [
        ("Yes", "/affirm"), ("No", "/deny"), ("I don't know", "/dont_know")]


def test_skin_type_has_six_choices(dispatcher, make_tracker, domain):
    message, _ = ask("skin_type", dispatcher, make_tracker, domain)
    choices = [b for b in message["buttons"] if b["payload"] != "/dont_know"]
    assert len(choices) == 6
    assert [b["payload"] for b in choices] == [f'/inform{{"skin_type":"{n}"}}'
                                               for n in range(1, 7)]
    assert choices[0]["title"].startswith("Always burns")
    assert choices[5]["title"].startswith("Never burns")


def test_profile_follow_up_asks_only_what_is_missing(dispatcher, make_tracker, domain):
    message, _ = ask("profile", dispatcher, make_tracker, domain, areas=["cheeks"], age=30)
    assert message["text"] == "Could you also tell me what you want to treat?"
    concerns = [json.loads(p[len("/inform"):])["concern"] for p in payloads(message)]
    assert concerns == list(KB.concerns)


def test_ask_consent(dispatcher, make_tracker, domain):
    run(A.AskConsent(), dispatcher, make_tracker(), domain)
    assert texts(dispatcher) == [KB.raw["consent"]["intro"], KB.raw["consent"]["question"]]
    assert payloads(dispatcher.messages[1]) == ["/affirm", "/deny"]


# =================================================================== action_triage_answer

def answer(dispatcher, make_tracker, domain, **slots):
    events = run(A.TriageAnswer(), dispatcher, make_tracker(slots=slots), domain)
    return all_text(dispatcher), events


def test_home_answer_shop_mode(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, **home_slots(mode="shop"))
    assert texts(dispatcher)[0] == KB.raw["dispositions"]["home_suitable"]["headline"]
    assert "• Forehead: at most 0.5 mm, at least 7 days between sessions" in text
    assert "• Cheeks: at most 0.5 mm, at least 7 days between sessions" in text
    assert KB.raw["intervals"]["convention_note"] in text  # labelled as convention
    for line in KB.raw["home_plan"]["aftercare"] + KB.raw["home_plan"]["precautions"]:
        assert line in text
    assert "choose a 0.5 mm head" in text
    assert payloads(dispatcher.messages[-1]) == ["/ask_why", "/faq_aftercare"]
    assert slot_events(events)["disposition"] == "home_suitable"


def test_home_answer_thin_skin_area_gets_a_quarter_millimetre(dispatcher, make_tracker, domain):
    text, _ = answer(dispatcher, make_tracker, domain, **home_slots(areas=["forehead", "nose"]))
    assert "• Nose: at most 0.25 mm, at least 2 days between sessions" in text
    assert "• Forehead: at most 0.5 mm, at least 7 days between sessions" in text
    assert "choose a 0.25 mm head" in text  # the head that suits every area


def test_home_answer_clinic_mode(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, **home_slots(mode="clinic"))
    assert KB.raw["modes"]["clinic"]["close"] in text
    assert "clinic will review your answers" in text
    # No sales talk: neither the shop's closing lines nor any advice to choose or buy a head.
    assert KB.raw["modes"]["shop"]["home_close"].split("{")[0] not in text
    assert KB.raw["modes"]["shop"]["professional_close"] not in text
    assert not re.search(r"\b(choose|buy|purchase|order)\b[^.\n]*\bhead", text, re.I)
    assert "mm head" not in text
    assert slot_events(events)["disposition"] == "home_suitable"


def test_clinic_mode_professional_answer_has_no_sales_talk(dispatcher, make_tracker, domain):
    text, _ = answer(dispatcher, make_tracker, domain,
                     **home_slots(mode="clinic", anticoagulant=True))
    assert KB.raw["modes"]["shop"]["professional_close"] not in text
    assert KB.raw["modes"]["clinic"]["close"] in text


def test_shop_mode_professional_answer(dispatcher, make_tracker, domain):
    text, _ = answer(dispatcher, make_tracker, domain, **home_slots(anticoagulant=True))
    assert texts(dispatcher)[0] == KB.raw["dispositions"]["professional_consult"]["headline"]
    assert KB.raw["modes"]["shop"]["professional_close"] in text
    assert "Your home plan" not in text
    # never tells anyone to stop or change a medicine
    assert "keep taking your medicine as prescribed" in text


def test_pregnant_gets_do_not_treat_with_reason_and_sources(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, **home_slots(pregnant=True))
    rule = KB.rules_by_id["pregnant"]
    assert texts(dispatcher)[0] == KB.raw["dispositions"]["do_not_treat"]["headline"]
    assert rule.message in text
    assert "Not until after your pregnancy." in text
    for title in source_titles(rule.sources):
        assert title in text
    assert "Your home plan" not in text
    assert "mm head" not in text
    assert f"Who to see: {KB.raw['dispositions']['do_not_treat']['see']}." in text
    assert slot_events(events)["disposition"] == "do_not_treat"


def test_consent_refused_gives_general_advice_and_forgets_health_data(dispatcher, make_tracker,
                                                                      domain):
    slots = home_slots(consent=False, pregnant=True, recent_procedures={"botox": 3})
    text, events = answer(dispatcher, make_tracker, domain, **slots)
    assert texts(dispatcher) == [KB.raw["consent"]["refused"]]
    health = {k for k in list(KB.facts) + ["age", "skin_type", "recent_procedures", "red_flags"]
              if slots.get(k) is not None}
    # declined health questions: a professional (policy section 3), with no health data kept
    assert slot_events(events) == {**{k: None for k in health},
                                   "disposition": "professional_consult"}
    assert "pregnant" in health and "age" in health and "isotretinoin_ever" in health


def test_consent_refused_keeps_nothing_when_nothing_was_said(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, consent=False)
    assert text == KB.raw["consent"]["refused"]
    assert slot_events(events) == {"disposition": "professional_consult"}


def test_red_flag_after_refused_consent_still_gets_urgent_care(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, consent=False, red_flags=["pus"])
    assert texts(dispatcher)[0] == KB.raw["dispositions"]["urgent_care"]["headline"]
    assert slot_events(events)["disposition"] == "urgent_care"


def test_pus_gets_urgent_care(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, **home_slots(red_flags=["pus"]))
    rule = KB.rules_by_id["red_flag_infection_or_reaction"]
    headline, why = dispatcher.messages[:2]
    assert headline["text"] == KB.raw["dispositions"]["urgent_care"]["headline"]
    assert rule.message in why["text"]
    for title in source_titles(rule.sources):
        assert title in why["text"]
    assert "Your home plan" not in text and "mm head" not in text and "Who to see" not in text
    assert not headline.get("buttons") and not why.get("buttons")  # no "Why?" detour
    assert slot_events(events)["disposition"] == "urgent_care"


def test_face_swelling_gets_emergency(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, red_flags=["face_swelling"])
    assert texts(dispatcher)[0] == "Call emergency services now."
    assert slot_events(events)["disposition"] == "emergency"


def test_answer_sets_disposition_and_assessment(dispatcher, make_tracker, domain):
    slots = home_slots(anticoagulant=True, keloid_history=True)
    _, events = answer(dispatcher, make_tracker, domain, **slots)
    set_ = slot_events(events)
    assert set(set_) == {"disposition", "assessment"}
    assert set_["disposition"] == "professional_consult"
    assessment = set_["assessment"]
    assert assessment["disposition"] == "professional_consult"
    assert {r["rule"] for r in assessment["reasons"]} >= {"anticoagulant", "keloid_history"}
    assert assessment["rules_version"] == KB.version
    json.dumps(assessment)  # a slot value must be serialisable


def test_unknown_critical_fact_never_gets_a_home_answer(dispatcher, make_tracker, domain):
    text, events = answer(dispatcher, make_tracker, domain, **home_slots(anticoagulant=None))
    assert slot_events(events)["disposition"] == "professional_consult"
    assert "blood thinners or daily aspirin" in text
    assert "Your home plan" not in text


# ========================================================================= action_explain

@pytest.mark.parametrize("qid", list(QUESTIONS))
def test_why_during_the_intake_explains_the_question(qid, dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={"consent": True, "requested_slot": f"q_{qid}"},
                           active_loop=FORM, intent="ask_why", text="why do you ask?")
    assert run(A.Explain(), dispatcher, tracker, domain) == []
    assert texts(dispatcher) == [QUESTIONS[qid]["why"]]


def test_why_during_consent(dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={"requested_slot": "consent"}, active_loop=FORM,
                           intent="ask_why")
    run(A.Explain(), dispatcher, tracker, domain)
    assert "health" in all_text(dispatcher)
    assert "only for this assessment" in all_text(dispatcher)


def test_why_after_the_answer_lists_every_reason_with_sources(dispatcher, make_tracker, domain):
    slots = home_slots(pregnant=True, anticoagulant=True, recent_procedures={"botox": 3})
    assessment = assess({**EXAMPLE, "facts": {**EXAMPLE["facts"], "pregnant": True,
                                              "anticoagulant": True},
                         "recent_procedures": {"botox": 3}})
    tracker = make_tracker(slots={**slots, "assessment": assessment}, intent="ask_why")
    run(A.Explain(), dispatcher, tracker, domain)
    text = all_text(dispatcher)
    assert KB.raw["dispositions"]["do_not_treat"]["headline"] in text
    assert {r["rule"] for r in assessment["reasons"]} == {"pregnant", "anticoagulant",
                                                          "recent_botox"}
    for r in assessment["reasons"]:
        assert r["message"] in text
        for title in source_titles(r["sources"]):
            assert title in text


def test_why_after_a_home_answer(dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={**home_slots(), "assessment": assess(EXAMPLE)},
                           intent="ask_why")
    run(A.Explain(), dispatcher, tracker, domain)
    assert "Nothing you told me argues against home use" in all_text(dispatcher)


def test_why_before_any_answer_is_helpful(dispatcher, make_tracker, domain):
    run(A.Explain(), dispatcher, make_tracker(intent="ask_why", text="why?"), domain)
    text = all_text(dispatcher)
    assert "haven't given you an answer yet" in text
    assert "tell me about your skin" in text


# ============================================================================= action_faq

@pytest.mark.parametrize("key", list(KB.raw["faqs"]))
def test_faq_answer_with_sources(key, dispatcher, make_tracker, domain):
    faq = KB.raw["faqs"][key]
    assert f"faq_{key}" in domain["intents"]
    events = run(A.Faq(), dispatcher, make_tracker(intent=f"faq_{key}", text="?"), domain)
    assert events == []
    text, offer = texts(dispatcher)  # the answer, then the offer to check home use
    assert offer == KB.raw["dialogue"]["faq_then_intake"]
    assert text.startswith(faq["answer"])
    for title in source_titles(faq["sources"]):
        assert title in text


def test_faq_without_an_answer(dispatcher, make_tracker, domain):
    run(A.Faq(), dispatcher, make_tracker(intent="faq_price", text="how much?"), domain)
    assert texts(dispatcher)[0] == "Sorry, I don't have an answer to that one."


# ======================================================================= fallback actions

def test_rephrase(dispatcher, make_tracker, domain):
    action = A.Rephrase()
    assert action.name() == "action_default_ask_rephrase"
    assert run(action, dispatcher, make_tracker(text="asdf"), domain) == []
    assert texts(dispatcher) == ["Sorry, I didn't quite get that. Could you say it another way?"]


def test_one_message_not_understood_repeats_the_question(dispatcher, make_tracker, domain):
    action = A.GiveUp()
    assert action.name() == "action_default_fallback"
    slots = {"consent": True, "concerns": ["texture"], "areas": ["cheeks"], "age": 30,
             "requested_slot": "q_health"}
    events = run(action, dispatcher, make_tracker(slots=slots, text="asdf", intent="nlu_fallback",
                                                  active_loop="intake_form"), domain)
    said = texts(dispatcher)
    assert said[0] == KB.raw["fallback"]["not_understood"]
    assert "buttons" in said[0] and "aftercare" in said[0]
    assert said[1] == KB.raw["questions"][1]["text"]  # the health checklist again
    assert [e["event"] for e in events] == ["rewind", "slot"]  # counted; no handoff, no pause
    assert events[1]["name"] == "asked" and events[1]["value"]["health"][0] == 1


def test_two_messages_not_understood_go_to_a_person(dispatcher, make_tracker, domain,
                                                    monkeypatch):
    opened = []
    monkeypatch.setattr(A, "_hand_off", lambda d, t, reason, a=None: opened.append(reason) or
                        [{"event": "pause"}])
    fails = [{"event": "user", "text": t, "parse_data": {"intent": {"name": "nlu_fallback"}}}
             for t in ("asdf", "qwer")]
    action = A.GiveUp()
    events = run(action, dispatcher, make_tracker(text="qwer", intent="nlu_fallback",
                                                  events=fails), domain)
    assert texts(dispatcher)[0] == KB.raw["fallback"]["give_up"]
    assert opened == ["not_understood"] and events[-1]["event"] == "pause"


def test_did_you_mean_uses_plain_words(dispatcher, make_tracker, domain):
    tracker = make_tracker(text="cleaning?", intent="nlu_fallback")
    tracker.latest_message["intent_ranking"] = [{"name": "nlu_fallback"},
                                                {"name": "faq_cleaning", "confidence": 0.3}]
    run(A.AskAffirmation(), dispatcher, tracker, domain)
    [m] = dispatcher.messages
    assert m["text"] == "Sorry, I'm not sure I understood. Did you mean to ask how to clean your device?"
    assert [b["payload"] for b in m["buttons"]] == ["/faq_cleaning", "/deny"]


# ================================================================== action_after_message

def test_a_yes_after_refusing_consent_starts_the_intake(dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={"consent": True}, text="sorry, I meant yes", intent="affirm",
                           events=[{"event": "user", "text": "sorry, I meant yes"},
                                   {"event": "slot", "name": "consent", "value": True}])
    events = run(A.AfterMessage(), dispatcher, tracker, domain)
    assert events == [{"event": "followup", "timestamp": None, "name": "intake_form"}]
    assert dispatcher.messages == []


def test_a_correction_after_the_answer_reassesses_whatever_its_intent(dispatcher, make_tracker,
                                                                      domain):
    tracker = make_tracker(slots={"consent": True, "pregnant": True}, text="scratch that",
                           intent="out_of_scope",
                           events=[{"event": "user", "text": "scratch that, test is positive"},
                                   {"event": "slot", "name": "pregnant", "value": True}])
    events = run(A.AfterMessage(), dispatcher, tracker, domain)
    assert events[0]["event"] == "followup"


def test_a_plain_no_after_the_answer_gets_the_usual_reply(dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={"consent": True, "disposition": "home_suitable"}, text="no",
                           intent="deny")
    assert run(A.AfterMessage(), dispatcher, tracker, domain) == []
    assert dispatcher.messages[0]["response"] == "utter_anything_else"


def test_a_correction_with_nothing_recognised_asks_what_changed(dispatcher, make_tracker, domain):
    slots = home_slots()
    slots["assessment"] = {"disposition": "home_suitable"}
    tracker = make_tracker(slots=slots, text="hang on, scratch that, my thingy is wonky",
                           intent="inform", active_loop=None)
    assert run(A.AfterMessage(), dispatcher, tracker, domain) == []
    assert texts(dispatcher) == [KB.raw["dialogue"]["recap"]["correcting"]]


# =========================================================== records (a real database)

def test_consent_and_intake_are_recorded(store, dispatcher, make_tracker, domain):
    run(A.ExtractFacts(), dispatcher, make_tracker(
        text="/affirm", intent="affirm", active_loop=FORM, slots={"requested_slot": "consent"},
        sender_id="rec-consent"), domain)
    assert store.consent("rec-consent").given is True
    run(A.ExtractFacts(), dispatcher, make_tracker(
        text="I'm pregnant", intent="inform", entities=[fact("pregnant")],
        slots={"consent": True, **PROFILE}, sender_id="rec-consent"), domain)
    assert store.intake("rec-consent")["facts"]["pregnant"] is True


def test_no_intake_is_kept_without_consent(store, dispatcher, make_tracker, domain):
    run(A.ExtractFacts(), dispatcher, make_tracker(
        text="I'm pregnant", intent="inform", entities=[fact("pregnant")], slots=PROFILE,
        sender_id="rec-no-consent"), domain)
    assert store.intake("rec-no-consent") is None and store.consent("rec-no-consent") is None


def test_an_answer_is_recorded_with_its_assessment(store, dispatcher, make_tracker, domain):
    events = run(A.TriageAnswer(), dispatcher,
                 make_tracker(slots=home_slots(), sender_id="rec-answer"), domain)
    [recorded] = store.assessments("rec-answer")
    assert recorded.disposition == slot_events(events)["disposition"]


def test_a_handoff_opens_a_real_case(store, dispatcher, make_tracker, domain):
    events = run(A.Handoff(), dispatcher, make_tracker(
        text="can I talk to a person", intent="request_human", slots=home_slots(),
        sender_id="rec-handoff"), domain)
    [ticket] = [t for t in store.tickets() if t.conversation_id == "rec-handoff"]
    assert slot_events(events)["ticket_id"] == ticket.id
    assert ticket.reason == "request_human" and ticket.status == "open"
    assert {"event": "pause"} in [{"event": e["event"]} for e in events]


def test_delete_my_data_erases_the_records(store, dispatcher, make_tracker, domain):
    run(A.ExtractFacts(), dispatcher, make_tracker(
        text="I'm pregnant", intent="inform", entities=[fact("pregnant")],
        slots={"consent": True, **PROFILE}, sender_id="rec-erase"), domain)
    assert store.intake("rec-erase") is not None
    events = run(A.DeleteData(), dispatcher, make_tracker(
        text="yes", intent="affirm", sender_id="rec-erase"), domain)
    assert slot_events(events) == {"erase_requested": True}
    assert store.intake("rec-erase") is None and store.consent("rec-erase") is None
