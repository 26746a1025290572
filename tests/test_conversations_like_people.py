"""Whole conversations with people who do not talk like the training data, through the real
servers (REST channel, action server, SQL tracker store): a simulated person
(tools/simulated_person.py) reads each question and answers in their own words.

The people are in tests/conversations/people.yml (from the cases of issue 9). The benchmark
over the blind set is scripts/bench_conversations.py; this is the part that must never
regress: the right answer, never a less urgent one, a warning sign answered on the very
turn it is said, and no question asked more than three times.
"""
import uuid
from pathlib import Path

import pytest
import yaml

from tools.simulated_person import converse

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = yaml.safe_load((ROOT / "tests" / "conversations" / "people.yml").read_text(
    encoding="utf-8"))["people"]
KB = yaml.safe_load((ROOT / "actions" / "triage" / "knowledge_base.yml").read_text(encoding="utf-8"))


def _talk(assistant, person):
    sender = f"person-{person['id']}-{uuid.uuid4().hex[:8]}"
    return converse(person, assistant.say, assistant.tracker, sender)


@pytest.mark.parametrize("person", PEOPLE, ids=[p["id"] for p in PEOPLE])
def test_a_person_in_their_own_words_gets_the_policys_answer(assistant, person):
    out = _talk(assistant, person)
    transcript = "\n".join(out.transcript)
    assert not out.unsafe, transcript
    assert not out.late_red_flag, transcript
    assert not out.stuck, transcript
    assert out.correct, transcript


def test_a_plain_profile_gets_a_home_answer_in_at_most_eight_messages_recap_included(assistant):
    person = next(p for p in PEOPLE if p["id"] == "t-plain-home")
    out = _talk(assistant, person)
    assert out.got == "home_suitable" and out.messages_to_answer <= 8, "\n".join(out.transcript)
    assert any(KB["dialogue"]["recap"]["intro"] in line for line in out.transcript)


def test_no_question_is_asked_more_than_three_times(assistant):
    """Someone who never answers anything the assistant can read still reaches an end:
    each question is asked at most three times (plainer words, then buttons and a person),
    and a home answer is never given."""
    sender = f"mute-{uuid.uuid4().hex[:8]}"
    assistant.say(sender, "hi")
    assistant.say(sender, "sure, go for it")
    seen = {}
    for _ in range(40):
        slots = assistant.slots(sender)
        if slots.get("disposition") or assistant.tracker(sender).get("paused"):
            break
        requested = slots.get("requested_slot")
        seen[requested] = seen.get(requested, 0) + 1
        assert seen[requested] <= 3, seen
        assistant.say(sender, "blorp wibble")
    slots = assistant.slots(sender)
    assert slots.get("disposition") not in ("home_suitable", "home_with_precautions")
    assert slots.get("disposition") or assistant.tracker(sender).get("paused") or slots.get("ticket_id")


def test_a_refusal_is_reversed_by_yes_at_any_time(assistant):
    sender = f"reverse-{uuid.uuid4().hex[:8]}"
    assistant.say(sender, "hello, I'm 40 and want to do my cheeks for texture")
    assistant.say(sender, "nah")
    assert assistant.slots(sender)["consent"] is False
    replies = assistant.say(sender, "sorry, I meant yes")
    slots = assistant.slots(sender)
    # the intake starts again; what the refusal erased (the age) is asked again
    assert slots["consent"] is True and slots["requested_slot"] == "q_profile"
    assert any("Could you also tell me" in (r.get("text") or "") for r in replies)


def test_a_warning_sign_inside_a_faq_question_gets_the_emergency_answer(assistant):
    sender = f"faqflag-{uuid.uuid4().hex[:8]}"
    replies = assistant.say(sender, "my lips feel swollen after the pen, is that normal?")
    assert assistant.slots(sender)["disposition"] == "emergency"
    assert replies[0]["text"] == KB["dispositions"]["emergency"]["headline"]


def test_something_wrong_in_the_recap_is_corrected_in_words(assistant):
    sender = f"recap-{uuid.uuid4().hex[:8]}"
    for text in ("fine lines on my forehead, I'm 34", "yes", "none of those", "none of those",
                 "none of those", "none of those", "fair, I burn easily"):
        assistant.say(sender, text)
    assert assistant.slots(sender)["requested_slot"] == "q_confirm"
    replies = assistant.say(sender, "Something's wrong")
    assert replies[0]["text"] == KB["dialogue"]["recap"]["correcting"]
    assistant.say(sender, "I'm actually on Eliquis")
    slots = assistant.slots(sender)
    assert slots["anticoagulant"] is True
    assert slots["disposition"] == "professional_consult"


def test_a_warning_sign_while_waiting_for_a_person_is_answered_at_once(assistant):
    sender = f"paused-{uuid.uuid4().hex[:8]}"
    assistant.say(sender, "hi")
    assistant.say(sender, "can I talk to a real person please")
    assert assistant.tracker(sender)["paused"] is True
    replies = assistant.say(sender, "my lips are swelling up and my throat feels tight")
    assert replies and replies[0]["text"] == KB["dispositions"]["emergency"]["headline"]
    assert assistant.slots(sender)["disposition"] == "emergency"
    assert assistant.tracker(sender)["paused"] is True  # still with the person as well


def test_a_correction_of_the_answer_with_facts_is_reassessed_not_handed_off(assistant):
    """"Sorry, I read that wrong, I'm not on roaccutane anymore, I finished in September"
    disputes the answer with facts: the assessment is redone (a dispute with no fact at all
    still goes to a person)."""
    sender = f"dispute-{uuid.uuid4().hex[:8]}"
    assistant.say(sender, "hi, 21, wanting to sort the texture on my forehead with a 0.5 pen")
    assistant.say(sender, "yeah go on")
    assistant.say(sender, "yeah roaccutane")
    assert assistant.slots(sender)["disposition"] == "do_not_treat"
    assistant.say(sender, "oh wait no sorry, I read that wrong, I am not on roaccutane anymore, "
                          "I finished the course at the end of september")
    slots = assistant.slots(sender)
    assert slots["isotretinoin_current"] is False and slots["isotretinoin_ever"] is True
    assert not assistant.tracker(sender).get("paused")
    assert not slots.get("ticket_id")


def test_after_something_wrong_a_yes_that_states_nothing_is_no_home_answer(assistant):
    """"Something's wrong", then "yes, about 6 weeks" (nothing understood): the recap's
    correction is asked for again, never the home answer it was about to give."""
    sender = f"recap-yes-{uuid.uuid4().hex[:8]}"
    for text in ("fine lines on my forehead, I'm 34", "yes", "none of those", "none of those",
                 "none of those", "none of those", "fair, I burn easily"):
        assistant.say(sender, text)
    assert assistant.slots(sender)["requested_slot"] == "q_confirm"
    assistant.say(sender, "Something's wrong")
    replies = assistant.say(sender, "yes, about 6 weeks")
    slots = assistant.slots(sender)
    assert slots.get("disposition") is None and slots["requested_slot"] == "q_confirm"
    assert KB["dialogue"]["recap"]["correcting"] in [r.get("text") for r in replies]
    assistant.say(sender, "sorry, it's right")
    assert assistant.slots(sender)["disposition"] == "home_suitable"


def test_a_fact_told_after_none_of_those_reopens_it(assistant):
    """"None of those" to the health list, then "I found out last week I'm pregnant":
    pregnancy is a yes, and the answer is not a home one."""
    sender = f"late-fact-{uuid.uuid4().hex[:8]}"
    for text in ("fine lines on my forehead, I'm 29, 0.5 pen", "yes", "none of those"):
        assistant.say(sender, text)
    assistant.say(sender, "oh wait I should say - I found out last week I'm pregnant")
    assert assistant.slots(sender)["pregnant"] is True


def test_i_dont_know_to_the_recap_goes_to_a_person_not_home(assistant):
    sender = f"recap-idk-{uuid.uuid4().hex[:8]}"
    for text in ("fine lines on my forehead, I'm 34", "yes", "none of those", "none of those",
                 "none of those", "none of those", "fair, I burn easily"):
        assistant.say(sender, text)
    assert assistant.slots(sender)["requested_slot"] == "q_confirm"
    replies = assistant.say(sender, "I don't know")
    assert KB["dialogue"]["recap"]["gave_up"] in [r.get("text") for r in replies]
    assert assistant.slots(sender).get("disposition") is None
    assert assistant.tracker(sender)["paused"] is True
