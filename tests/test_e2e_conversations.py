"""End-to-end conversations against the real servers (tests/conftest.py `assistant`: the
action server and the Rasa server with the newest trained model in models/).

Each test is one website visitor typing in their own words (one test uses the button
payloads). What is asserted is what the person would notice: the headline and reasons they
read, the sources named, the home plan's depth and interval, the question asked next, and
the slots a clinic or support agent reads afterwards (`disposition`, the canonical facts).
All expected wording comes from the knowledge base, so a change of wording there does not
break these tests, but a wrong answer does.

Every conversation has its own sender id; the servers are shared by the whole session.
"""
import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KB = yaml.safe_load((ROOT / "actions" / "triage" / "knowledge_base.yml").read_text(encoding="utf-8"))
QUESTIONS = {q["id"]: q for q in KB["questions"]}
HEADLINE = {d: v["headline"] for d, v in KB["dispositions"].items()}
SOURCE_TITLE = {s: v["title"] for s, v in KB["sources"].items()}
RULES = {r["id"]: r for r in KB["rules"]}
FACTS = list(KB["facts"])
# Everything the intake asks after consent: the health part of the conversation.
HEALTH_QUESTIONS = [q for q in KB["questions"] if q["id"] != "profile"]
HEALTH_CHECKLIST_FACTS = QUESTIONS["health"]["items"]
CRITICAL_FACTS = [i["id"] for i in KB["ask_order"] if i["critical"] and i["id"] in KB["facts"]
                  and "only_if" not in i]
HOME_CLOSE_PREFIX = KB["modes"]["shop"]["home_close"].split("{mm}")[0]  # "For home use choose a "
PROFESSIONAL_CLOSE = KB["modes"]["shop"]["professional_close"]
CLINIC_CLOSE = KB["modes"]["clinic"]["close"]


RECAP = KB["dialogue"]["recap"]


def confirm_recap(c: "Conversation", reply: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Before a home answer the assistant shows what it understood; the person confirms."""
    text = joined(reply)
    assert RECAP["intro"] in text and RECAP["question"] in text, c.transcript()
    assert [b["title"] for b in reply[-1]["buttons"]] == [RECAP["right"], RECAP["wrong"]]
    assert answer_headline(reply) is None, "a home answer before the recap\n" + c.transcript()
    return c.say("yes, that's right")


class Conversation:
    """One visitor talking to the running assistant, with a transcript for failure output."""

    def __init__(self, assistant, tag: str):
        self.bot = assistant
        self.sender = f"e2e-{tag}-{uuid.uuid4().hex[:10]}"
        self.turns: List[Dict[str, Any]] = []

    def say(self, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        replies = self.bot.say(self.sender, text, metadata) or []
        assert isinstance(replies, list), f"the webhook answered {replies!r} to {text[:80]!r}"
        self.turns.append({"user": text, "bot": replies})
        return replies

    @property
    def user_turns(self) -> int:
        return len(self.turns)

    def slots(self) -> Dict[str, Any]:
        return self.bot.slots(self.sender)

    def transcript(self) -> str:
        lines = [f"sender {self.sender}"]
        for t in self.turns:
            user = t["user"] if len(t["user"]) <= 120 else t["user"][:120] + f"... ({len(t['user'])} chars)"
            lines.append(f"USER: {user!r}")
            for m in t["bot"]:
                buttons = [b.get("title") for b in m.get("buttons") or []]
                lines.append("  BOT: " + (m.get("text") or "").replace("\n", "\n       ")
                             + (f"  {buttons}" if buttons else ""))
        return "\n".join(lines)


def texts(messages: List[Dict[str, Any]]) -> List[str]:
    return [m.get("text") or "" for m in messages]


def joined(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(texts(messages))


def asks(messages: List[Dict[str, Any]], qid: str) -> bool:
    """Whether these bot messages ask the knowledge base's question `qid` (in full or the
    "Anything else from this list?" form for the rest of a checklist)."""
    return any(QUESTIONS[qid]["text"] in t for t in texts(messages))


def asked_health_question(messages: List[Dict[str, Any]]) -> bool:
    if any(asks(messages, q["id"]) for q in HEALTH_QUESTIONS):
        return True
    # A checklist is also recognisable by its buttons (fact payloads, "None of these").
    return any(b.get("payload", "").startswith('/inform{"fact"') or b.get("title") == KB["buttons"]["none"]
               for m in messages for b in m.get("buttons") or [])


def answer_headline(messages: List[Dict[str, Any]]) -> Optional[str]:
    for t in texts(messages):
        if t in HEADLINE.values():
            return t
    return None


def sources_text(source_ids: List[str]) -> List[str]:
    return [SOURCE_TITLE[s] for s in source_ids]


def _no_purchase_talk(text: str) -> bool:
    return re.search(r"\b(choose|buy|order|purchase|get)\b[^.\n]*\b(head|cartridge|needle)", text,
                     re.IGNORECASE) is None


# --- 1. the home path -------------------------------------------------------------------

def test_home_path_in_plain_words_ends_with_a_home_plan_and_a_head_suggestion(assistant):
    c = Conversation(assistant, "home")
    first = c.say("Hi, I'm 34 and I'd like to smooth the fine lines on my forehead")
    assert first[-1]["text"] == KB["consent"]["question"], c.transcript()
    assert not asks(c.say("sure, go ahead"), "profile"), \
        "the profile was stated in the first message and must not be asked again\n" + c.transcript()
    assert asks(c.turns[-1]["bot"], "health"), c.transcript()
    assert asks(c.say("no, none of those apply to me"), "skin_now"), c.transcript()
    assert asks(c.say("nope, nothing like that"), "history"), c.transcript()
    assert asks(c.say("no, never had any of those"), "products_procedures"), c.transcript()
    assert asks(c.say("no, nothing"), "skin_type"), c.transcript()
    recap = c.say("I usually burn and tan a little, fair skin")
    recap_text = joined(recap)
    assert "fine lines and wrinkles" in recap_text and "forehead" in recap_text and "34" in recap_text
    assert "pregnancy" in recap_text and "blood thinners" in recap_text  # what does not apply
    answer = confirm_recap(c, recap)
    assert c.user_turns <= 8, "home answer in at most 8 messages, recap included\n" + c.transcript()

    slots = c.slots()
    assert slots["disposition"] == "home_suitable", c.transcript()
    assert answer_headline(answer) == HEADLINE["home_suitable"], c.transcript()
    assert slots["age"] == 34 and slots["concerns"] == ["fine_lines_wrinkles"]
    assert slots["areas"] == ["forehead"] and slots["skin_type"] == 2
    for fact in CRITICAL_FACTS:
        assert slots[fact] is False, f"{fact}={slots[fact]!r}\n{c.transcript()}"
    assert slots["assessment"]["missing"] == []

    text = joined(answer)
    plan_line = next((l for l in text.splitlines() if l.startswith("• Forehead:")), "")
    assert "0.5 mm" in plan_line and "7 days" in plan_line, c.transcript()
    assert KB["intervals"]["convention_note"] in text  # the interval is labelled as convention
    for p in KB["home_plan"]["precautions"] + KB["home_plan"]["aftercare"]:
        assert p in text
    for title in sources_text(KB["home_plan"]["sources"] + KB["home_ceiling_sources"]):
        assert title in text, f"source {title!r} missing\n{c.transcript()}"
    # Shop mode: the last thing read is the head to choose, at the plan's depth.
    assert answer[-1]["text"] == KB["modes"]["shop"]["home_close"].format(mm="0.5"), c.transcript()
    assert [b["title"] for b in answer[-1]["buttons"]] == ["Why?", "Aftercare tips"]
    # Nothing was asked twice.
    questions = [qid for t in c.turns for qid in QUESTIONS if asks(t["bot"], qid)]
    assert len(questions) == len(set(questions)), c.transcript()


def test_home_path_with_retinol_gives_home_with_precautions_and_the_pause(assistant):
    c = Conversation(assistant, "home-retinol")
    c.say("hello")
    c.say("yes, that's fine")
    c.say("I'm 41 and want to improve the texture of my cheeks")
    c.say("none of these")
    c.say("none of these")
    c.say("none of these")
    assert asks(c.turns[-1]["bot"], "products_procedures"), c.transcript()
    c.say("I use a retinol serum at night, nothing else")
    answer = confirm_recap(c, c.say("fair skin, I usually burn"))
    assert c.user_turns <= 9, c.transcript()  # the greeting was a message of its own

    slots = c.slots()
    assert slots["topical_retinoid_otc"] is True and slots["topical_rx"] is False, c.transcript()
    assert slots["disposition"] == "home_with_precautions", c.transcript()
    text = joined(answer)
    assert answer_headline(answer) == HEADLINE["home_with_precautions"]
    assert RULES["topical_retinoid_otc"]["precaution"] in text, c.transcript()
    assert "• Cheeks: at most 0.5 mm, at least 7 days between sessions" in text, c.transcript()
    assert answer[-1]["text"] == KB["modes"]["shop"]["home_close"].format(mm="0.5")


# --- 2. an absolute contraindication in the first message ----------------------------

def test_accutane_in_the_first_message_ends_the_intake_right_after_consent(assistant):
    c = Conversation(assistant, "accutane")
    first = c.say("I'm 29, on Accutane, want to fix acne scars on my cheeks with a 1mm pen")
    assert first[-1]["text"] == KB["consent"]["question"], c.transcript()
    answer = c.say("yes")
    assert c.user_turns <= 3

    assert answer_headline(answer) == HEADLINE["do_not_treat"], c.transcript()
    assert not asked_health_question(answer), "a health question was asked after consent\n" + c.transcript()
    slots = c.slots()
    assert slots["disposition"] == "do_not_treat"
    assert slots["isotretinoin_current"] is True
    assert slots["age"] == 29
    assert slots["areas"] == ["cheeks"]
    assert slots["concerns"] == ["acne_scars"]
    assert slots["needle_mm"] == 1.0
    assert slots["device_type"] == "pen"
    assert slots["requested_slot"] is None

    text = joined(answer)
    rule = RULES["isotretinoin_current"]
    assert rule["message"] in text and rule["until"] in text, c.transcript()
    for title in sources_text(rule["sources"]):
        assert title in text
    # The other reasons are named too (scars need clinic depths, 1 mm is above the home limit).
    assert RULES["concern_needs_depth"]["message"] in text
    assert RULES["needle_above_home_limit"]["message"] in text
    assert "Your home plan" not in text and HOME_CLOSE_PREFIX not in text


# --- 3. absolute contraindications stated mid-intake -----------------------------------

@pytest.mark.parametrize("at_question, statement, fact", [
    ("health", "I'm 5 months pregnant actually", "pregnant"),
    ("health", "I'm still nursing my baby", "breastfeeding"),
    ("skin_now", "I got sunburnt on my forehead yesterday", "sunburn"),
    ("skin_now", "there's a skin infection on my forehead at the moment", "active_infection"),
], ids=["pregnant", "nursing", "sunburn", "infection"])
def test_absolute_contraindication_stated_mid_intake_gives_do_not_treat(assistant, at_question,
                                                                          statement, fact):
    c = Conversation(assistant, f"dnt-{fact}")
    c.say("hi")
    c.say("yes")
    c.say("fine lines on my forehead, I'm 34")
    if at_question == "skin_now":
        assert asks(c.say("no, none of those"), "skin_now"), c.transcript()
    assert asks(c.turns[-1]["bot"], at_question), c.transcript()
    answer = c.say(statement)

    assert answer_headline(answer) == HEADLINE["do_not_treat"], c.transcript()
    assert not asked_health_question(answer), \
        "the intake went on after a do-not-treat fact\n" + c.transcript()
    slots = c.slots()
    assert slots[fact] is True, c.transcript()
    assert slots["disposition"] == "do_not_treat"
    assert (slots["age"], slots["areas"]) == (34, ["forehead"]), c.transcript()  # profile kept
    rule = RULES[fact]
    text = joined(answer)
    assert rule["message"] in text and rule["until"] in text, c.transcript()
    for title in sources_text(rule["sources"]):
        assert title in text
    assert f"Who to see: {KB['dispositions']['do_not_treat']['see']}." in text
    assert "Your home plan" not in text and HOME_CLOSE_PREFIX not in text


# --- 4. a relative contraindication: blood thinners -------------------------------------

STOP_MEDICINE = re.compile(
    r"\b(stop|stopping|quit|pause|skip|discontinue|come off|go off|reduce|change|switch)\b"
    r"[^.\n]{0,40}\b(eliquis|medicine|medicines|medication|medications|blood thinners?|"
    r"anticoagulants?|aspirin|tablets?|pills?|dose)\b", re.IGNORECASE)


def test_blood_thinner_gives_professional_consult_and_never_says_to_stop_the_medicine(assistant):
    c = Conversation(assistant, "eliquis")
    c.say("hi there")
    c.say("yes")
    c.say("I'm 52 and I'd like to do something about the wrinkles on my forehead")
    answer = c.say("I take Eliquis")

    slots = c.slots()
    assert slots["anticoagulant"] is True, c.transcript()
    assert slots["disposition"] == "professional_consult", c.transcript()
    assert answer_headline(answer) == HEADLINE["professional_consult"]
    text = joined(answer)
    assert RULES["anticoagulant"]["message"] in text
    assert "keep taking your medicine as prescribed" in text
    assert f"Who to see: {KB['dispositions']['professional_consult']['see']}." in text
    assert answer[-1]["text"] == PROFESSIONAL_CLOSE
    # Asking why afterwards lists every reason; none of them may touch the medicine either.
    why = c.say("why?")
    assert RULES["anticoagulant"]["message"] in joined(why), c.transcript()
    for t in c.turns:
        for m in texts(t["bot"]):
            assert not STOP_MEDICINE.search(m), f"medicine advice: {m!r}\n{c.transcript()}"


# --- 5. red flags -----------------------------------------------------------------------

def test_red_flag_in_the_middle_of_the_form_gives_emergency_at_once(assistant):
    c = Conversation(assistant, "emergency")
    c.say("hi")
    c.say("yes")
    c.say("fine lines on my forehead, I'm 34")
    assert asks(c.say("none of these"), "skin_now"), c.transcript()
    answer = c.say("my face is swelling and it's hard to breathe")

    assert answer[0]["text"] == HEADLINE["emergency"], c.transcript()
    assert not asked_health_question(answer), c.transcript()
    text = joined(answer)
    assert RULES["red_flag_emergency"]["message"] in text
    assert "Your home plan" not in text and HOME_CLOSE_PREFIX not in text
    assert not answer[-1].get("buttons"), "no aftercare/why buttons on an emergency"
    slots = c.slots()
    assert slots["disposition"] == "emergency"
    assert set(slots["red_flags"]) == {"face_swelling", "breathing_difficulty"}
    assert slots["requested_slot"] is None


def test_pus_at_the_very_start_gives_urgent_care_without_asking_for_consent(assistant):
    c = Conversation(assistant, "urgent")
    answer = c.say("there's pus after I rolled")

    assert answer[0]["text"] == HEADLINE["urgent_care"], c.transcript()
    assert KB["consent"]["question"] not in joined(answer), "consent asked before a red flag answer"
    assert not asked_health_question(answer)
    text = joined(answer)
    rule = RULES["red_flag_infection_or_reaction"]
    assert rule["message"] in text
    for title in sources_text(rule["sources"]):
        assert title in text
    slots = c.slots()
    assert slots["disposition"] == "urgent_care"
    assert slots["red_flags"] == ["pus"]
    assert slots["consent"] is None


# --- 6. a correction after the answer ---------------------------------------------------

def test_correction_after_the_answer_reassesses(assistant):
    c = Conversation(assistant, "correction")
    c.say("on accutane")
    first_answer = c.say("yes")
    assert answer_headline(first_answer) == HEADLINE["do_not_treat"], c.transcript()
    assert c.slots()["disposition"] == "do_not_treat"

    reply = c.say("actually I stopped Accutane two years ago")
    slots = c.slots()
    assert slots["isotretinoin_current"] is False, c.transcript()
    assert slots["isotretinoin_ever"] is True
    assert slots["isotretinoin_stopped_months_ago"] == 24
    # It carries on with what it still needs (the profile), not with the old answer.
    assert asks(reply, "profile"), c.transcript()
    assert answer_headline(reply) is None

    health = c.say("fine lines on my forehead, I'm 34")
    # Accutane is settled: the health checklist no longer lists it.
    assert asks(health, "health"), c.transcript()
    titles = [b["title"] for m in health for b in m.get("buttons") or []]
    assert not any("Accutane" in t for t in titles), c.transcript()
    assert not asks(c.say("none of these"), "health"), c.transcript()
    c.say("none of these")
    c.say("none of these")
    c.say("none of these")
    answer = confirm_recap(c, c.say("I have fair skin"))
    assert answer_headline(answer) == HEADLINE["home_suitable"], c.transcript()
    slots = c.slots()
    assert slots["disposition"] == "home_suitable"
    assert slots["isotretinoin_stopped_months_ago"] == 24 and slots["isotretinoin_current"] is False
    assert RULES["isotretinoin_current"]["message"] not in joined(answer)


# --- 7. "why do you ask?" during a checklist ---------------------------------------------

@pytest.mark.parametrize("qid", ["health", "skin_now"])
def test_why_do_you_ask_explains_then_asks_the_same_question_again(assistant, qid):
    c = Conversation(assistant, f"why-{qid}")
    c.say("hi")
    c.say("yes")
    question = c.say("fine lines on my forehead, I'm 34")
    if qid == "skin_now":
        question = c.say("none of these")
    assert asks(question, qid), c.transcript()
    before = c.slots()

    reply = c.say("why do you ask?")
    assert reply[0]["text"] == QUESTIONS[qid]["why"], c.transcript()
    assert asks(reply[1:], qid), "the question was not asked again\n" + c.transcript()
    assert reply[-1]["buttons"] == question[-1]["buttons"]
    after = c.slots()
    for fact in FACTS:
        assert after[fact] == before[fact], f"'why?' changed {fact}\n{c.transcript()}"
    # The question still takes its answer.
    nxt = "skin_now" if qid == "health" else "history"
    assert asks(c.say("none of these"), nxt), c.transcript()


# --- 8. "I don't know" is recorded as unknown ---------------------------------------------

def test_dont_know_to_the_health_checklist_is_unknown_never_no(assistant):
    c = Conversation(assistant, "dontknow")
    c.say("hi")
    c.say("yes")
    c.say("fine lines on my forehead, I'm 34")
    reply = c.say("I don't know")
    slots = c.slots()
    assert slots["q_health"] == "unknown", c.transcript()
    for fact in HEALTH_CHECKLIST_FACTS:
        assert slots[fact] is None, \
            f"{fact} recorded as {slots[fact]!r} after 'I don't know'\n{c.transcript()}"
    assert asks(reply, "skin_now"), c.transcript()  # moves on, does not insist

    c.say("no, none of those")
    c.say("no, none of those")
    c.say("no, none of those")
    answer = c.say("pale skin, I usually burn")
    slots = c.slots()
    assert slots["disposition"] == "professional_consult", c.transcript()
    assert answer_headline(answer) == HEADLINE["professional_consult"]
    for fact in HEALTH_CHECKLIST_FACTS:
        assert slots[fact] is None, f"{fact}={slots[fact]!r}\n{c.transcript()}"
    assert "pregnant" in slots["assessment"]["missing"]
    text = joined(answer)
    assert "We don't know yet about pregnancy" in text, c.transcript()
    assert "Your home plan" not in text and HOME_CLOSE_PREFIX not in text
    assert HEADLINE["home_suitable"] not in text and HEADLINE["home_with_precautions"] not in text
    # The health checklist was asked exactly once.
    assert sum(asks(t["bot"], "health") for t in c.turns) == 1, c.transcript()


# --- 9. no consent --------------------------------------------------------------------

def test_no_consent_gives_the_refusal_and_asks_nothing_about_health(assistant):
    c = Conversation(assistant, "noconsent")
    c.say("hi")
    reply = c.say("no")
    assert joined(reply) == KB["consent"]["refused"], c.transcript()
    assert not asked_health_question(reply)
    slots = c.slots()
    assert slots["consent"] is False
    for fact in FACTS:
        assert slots[fact] is None, f"{fact}={slots[fact]!r}"
    for key in ("age", "skin_type", "recent_procedures", "red_flags", "assessment"):
        assert not slots[key], f"{key}={slots[key]!r}"
    # declined health questions: the policy's answer is a professional (section 3)
    assert slots["disposition"] == "professional_consult"
    assert slots["requested_slot"] is None
    # The refusal says general questions still work.
    faq = c.say("how do I clean my roller?")
    assert KB["faqs"]["cleaning"]["answer"] in joined(faq), c.transcript()
    assert not asked_health_question(faq)


# --- 10. clinic mode ------------------------------------------------------------------

def test_clinic_mode_from_metadata_says_the_clinic_will_review_and_sells_nothing(assistant):
    c = Conversation(assistant, "clinic-meta")
    c.say("hi", metadata={"mode": "clinic"})
    c.say("yes")
    c.say("fine lines on my forehead, I'm 34")
    c.say("none of these")
    c.say("none of these")
    c.say("none of these")
    c.say("none of these")
    answer = confirm_recap(c, c.say("fair skin, I usually burn"))

    slots = c.slots()
    assert slots["mode"] == "clinic", c.transcript()
    assert slots["disposition"] == "home_suitable", c.transcript()
    assert answer[-1]["text"] == CLINIC_CLOSE, c.transcript()
    for t in c.turns:
        text = joined(t["bot"])
        assert HOME_CLOSE_PREFIX not in text and PROFESSIONAL_CLOSE not in text, c.transcript()
        assert _no_purchase_talk(text), c.transcript()


def test_clinic_mode_from_the_start_payload(assistant):
    c = Conversation(assistant, "clinic-payload")
    first = c.say('/start{"mode":"clinic"}')
    assert first[-1]["text"] == KB["consent"]["question"], c.transcript()
    c.say("yes")
    answer = c.say("I'm 29 and want to fix acne scars on my cheeks")

    slots = c.slots()
    assert slots["mode"] == "clinic", c.transcript()
    assert slots["disposition"] == "professional_consult"
    assert answer_headline(answer) == HEADLINE["professional_consult"]
    assert answer[-1]["text"] == CLINIC_CLOSE, c.transcript()
    text = joined(answer)
    assert PROFESSIONAL_CLOSE not in text and HOME_CLOSE_PREFIX not in text
    assert _no_purchase_talk(text), c.transcript()


# --- 11. a FAQ in the middle of the form ------------------------------------------------

def test_faq_mid_form_is_answered_then_the_question_comes_back(assistant):
    c = Conversation(assistant, "faq")
    c.say("hi")
    c.say("yes")
    question = c.say("fine lines on my forehead, I'm 34")
    assert asks(question, "health")
    before = c.slots()

    reply = c.say("how do I clean my roller?")
    faq = KB["faqs"]["cleaning"]
    assert faq["answer"] in reply[0]["text"], c.transcript()
    for title in sources_text(faq["sources"]):
        assert title in reply[0]["text"]
    assert asks(reply[1:], "health"), "the form question did not come back\n" + c.transcript()
    after = c.slots()
    for key in FACTS + ["age", "areas", "concerns"]:
        assert after[key] == before[key], f"the FAQ changed {key}\n{c.transcript()}"
    assert asks(c.say("none of these"), "skin_now"), c.transcript()


# --- 12. bad input loses nothing ------------------------------------------------------

LONG_MESSAGE = ("so I have been reading forums for weeks and honestly I am a bit lost, every video "
                "says something different and ") * 50
LONG_MESSAGE = LONG_MESSAGE[:5000]
BAD_INPUTS = [
    pytest.param("", id="empty"),
    pytest.param(LONG_MESSAGE, id="5000-chars"),
    pytest.param("😀🤷\u200d♀️ ñ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e ✨", id="emoji-unicode"),
    pytest.param("a NUL\u0000 in the middle", id="nul"),
    pytest.param("<script>alert(1)</script>", id="script-tag"),
]


def _say_bad(c, bad: str) -> list:
    """The assistant's reply; or, for text the REST entrance cannot take (a NUL character),
    a 400 with a one-line reason (issue 10: bad input gets a clear answer, not a guess)."""
    import urllib.error
    try:
        return c.say(bad)
    except urllib.error.HTTPError as e:
        assert e.code == 400 and "\0" in bad, (e.code, bad[:30])
        assert b"NUL" in e.read()
        return []


def _at_the_health_checklist(assistant, tag: str):
    c = Conversation(assistant, tag)
    c.say("hi")
    c.say("yes")
    assert asks(c.say("I'm 34 and I'd like to smooth the fine lines on my forehead"), "health")
    return c


KEPT = {"consent": True, "age": 34, "areas": ["forehead"], "concerns": ["fine_lines_wrinkles"]}


@pytest.mark.parametrize("bad", [p.values[0] for p in BAD_INPUTS],
                         ids=[p.id for p in BAD_INPUTS])
def test_bad_input_sets_nothing_and_keeps_earlier_answers(assistant, bad):
    c = _at_the_health_checklist(assistant, "badinput-slots")
    reply = _say_bad(c, bad)  # a reply (a list) or a clear refusal, not a server error
    assert "<script>" not in joined(reply), "the markup was echoed back\n" + c.transcript()
    slots = c.slots()
    for k, v in KEPT.items():
        assert slots[k] == v, f"{k} lost after {bad[:30]!r}\n{c.transcript()}"
    for key in FACTS + ["skin_type", "disposition", "assessment", "red_flags"]:
        assert not slots[key] and slots[key] is not False, \
            f"{key}={slots[key]!r} after {bad[:30]!r}\n{c.transcript()}"


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_the_intake_carries_on_after_one_bad_message(assistant, bad):
    c = _at_the_health_checklist(assistant, "badinput-continue")
    _say_bad(c, bad)
    assert asks(c.say("none of these"), "skin_now"), \
        f"the next answer was lost after {bad[:30]!r}\n{c.transcript()}"
    slots = c.slots()
    for k, v in KEPT.items():
        assert slots[k] == v, c.transcript()
    for fact in HEALTH_CHECKLIST_FACTS:
        assert slots[fact] is False, f"{fact}={slots[fact]!r}\n{c.transcript()}"


def _post_raw(url: str, body: bytes):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_malformed_json_to_the_webhook_is_a_client_error_and_changes_nothing(assistant):
    c = _at_the_health_checklist(assistant, "badjson")
    url = f"{assistant.url}/webhooks/rest/webhook"
    for body in (b'{"sender": "' + c.sender.encode() + b'", "message": ', b"not json at all",
                 b'{"sender": "' + c.sender.encode() + b'", "message": "none of these"'):
        status, answer = _post_raw(url, body)
        assert 400 <= status < 500, (body, status, answer[:300])
    slots = c.slots()
    for k, v in KEPT.items():
        assert slots[k] == v, c.transcript()
    assert slots["pregnant"] is None, "a malformed body was read as an answer"
    # The server still answers, and this conversation goes on where it was.
    assert asks(c.say("none of these"), "skin_now"), c.transcript()
    c.say("no, none of those")
    c.say("no, none of those")
    c.say("no, nothing")
    answer = confirm_recap(c, c.say("fair skin, I usually burn"))
    assert answer_headline(answer) == HEADLINE["home_suitable"], c.transcript()
    slots = c.slots()
    assert slots["disposition"] == "home_suitable"
    for k, v in KEPT.items():
        assert slots[k] == v, c.transcript()


# --- button payloads (the one conversation that uses them) ------------------------------

def test_button_payloads_none_of_these_and_pregnancy(assistant):
    c = Conversation(assistant, "buttons-home")
    consent = c.say("/greet")
    assert {b["payload"] for b in consent[-1]["buttons"]} == {"/affirm", "/deny"}
    c.say("/affirm")
    health = c.say('/inform{"concern":"fine_lines_wrinkles","area":"forehead","age":34}')
    payloads = [b["payload"] for m in health for b in m.get("buttons") or []]
    assert "/deny" in payloads and '/inform{"fact":"pregnant"}' in payloads, c.transcript()
    for _ in range(4):
        c.say("/deny")
    assert asks(c.turns[-1]["bot"], "skin_type"), c.transcript()
    recap = c.say('/inform{"skin_type":"2"}')
    assert [b["payload"] for b in recap[-1]["buttons"]] == ["/affirm", "/deny"], c.transcript()
    answer = c.say("/affirm")
    assert c.slots()["disposition"] == "home_suitable", c.transcript()
    assert answer[-1]["text"] == KB["modes"]["shop"]["home_close"].format(mm="0.5")

    p = Conversation(assistant, "buttons-pregnant")
    p.say("/greet")
    p.say("/affirm")
    p.say('/inform{"concern":"fine_lines_wrinkles","area":"forehead","age":34}')
    answer = p.say('/inform{"fact":"pregnant"}')
    slots = p.slots()
    assert slots["pregnant"] is True and slots["disposition"] == "do_not_treat", p.transcript()
    assert answer_headline(answer) == HEADLINE["do_not_treat"]
    # Only the ticked item is set: the rest of the checklist stays unknown, not "no".
    assert slots["breastfeeding"] is None and slots["anticoagulant"] is None, p.transcript()


# --- known bug: the fallback shows internal intent names ----------------------------------

INTENT_NAMES = re.compile(r"'(nlu_fallback|greet|deny|affirm|inform|dont_know|ask_why|out_of_scope"
                          r"|faq_\w+|report_symptom|start|thank|goodbye|bot_challenge|request_human)'")


def test_a_message_the_assistant_does_not_understand_gets_a_plain_language_reply(assistant):
    c = Conversation(assistant, "fallback-wording")
    c.say("hi")
    c.say("yes")
    assert asks(c.say("fine lines on my forehead, I'm 34"), "health"), c.transcript()
    for text in ("", "😀🤷\u200d♀️ ñ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"):
        reply = c.say(text)
        for m in texts(reply):
            assert not INTENT_NAMES.search(m), f"internal intent name shown: {m!r}\n{c.transcript()}"
            assert not m.startswith("Did you mean"), f"{m!r}\n{c.transcript()}"


def test_clinic_mode_adds_no_appointment_talk_to_an_emergency(assistant):
    c = Conversation(assistant, "clinic-emergency")
    c.say("hi", metadata={"mode": "clinic"})
    c.say("yes")
    answer = c.say("my lips are swelling and I can't breathe")
    assert answer[0]["text"] == HEADLINE["emergency"], c.transcript()
    assert c.slots()["disposition"] == "emergency"
    assert CLINIC_CLOSE not in joined(answer), c.transcript()


@pytest.mark.parametrize("aside", ["hello?", "I'm 34"], ids=["hello", "repeated-age"])
def test_a_harmless_aside_mid_form_does_not_stop_the_assistant(assistant, aside):
    c = _at_the_health_checklist(assistant, "aside")
    reply = c.say(aside)
    assert "Until then I'll stay quiet" not in joined(reply), c.transcript()
    assert asks(c.say("none of these"), "skin_now"), c.transcript()


@pytest.mark.parametrize("answer, skin_type", [
    pytest.param("I have fair skin", 2, id="I-have-fair-skin"),
    pytest.param("pale skin, I usually burn", 2, id="pale-skin"),
    pytest.param("light brown skin", 3, id="light-brown"),
    pytest.param("I always burn, never tan", 1, id="always-burn"),
    pytest.param("fair skin", 2, id="fair-skin"),
    pytest.param("I'm fair", 2, id="Im-fair"),
])
def test_short_answers_to_the_skin_type_question(assistant, answer, skin_type):
    c = _at_the_health_checklist(assistant, "skintype")
    c.say("none of these")
    c.say("none of these")
    c.say("none of these")
    assert asks(c.say("none of these"), "skin_type"), c.transcript()
    reply = confirm_recap(c, c.say(answer))
    slots = c.slots()
    assert slots["skin_type"] == skin_type, c.transcript()
    assert slots["disposition"] == "home_suitable", c.transcript()
    assert answer_headline(reply) == HEADLINE["home_suitable"], c.transcript()
