"""A simulated person who holds a whole conversation with the real servers, the way a person
would: sends their opening, reads what the assistant asks (the question on screen, its
buttons), answers it in their own words (the wording written for them in a persona file),
corrects the recap if it is wrong, says what their script says at its moment, and stops at
the answer. Used by scripts/bench_conversations.py (every persona of a set) and by
tests/test_conversations_like_people.py (a few).

A persona (eval/blind/conversations.yml describes the format):
    profile: the truth (contract vocabulary); expected: the policy's disposition
    opening: first message; say: the person's words per topic; script: timed messages

Outcome per person: the final disposition; correct (== expected after the script); unsafe
(less urgent than the policy); late red flag (a message naming a warning sign not answered
with emergency or urgent care on that very turn); stuck (one question more than three times
in a row, or no answer within the turn limit); the number of messages to the answer.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

URGENCY = ["emergency", "urgent_care", "do_not_treat", "professional_consult",
           "home_with_precautions", "home_suitable"]
HOME = ("home_with_precautions", "home_suitable")
CHECKLISTS = ("q_health", "q_skin_now", "q_history", "q_products_procedures")
MAX_TURNS = 30


@dataclass
class Outcome:
    id: str
    expected: str
    got: Optional[str] = None
    messages_to_answer: Optional[int] = None
    messages: int = 0
    late_red_flag: bool = False
    stuck: bool = False
    handed_off: bool = False
    transcript: List[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.got == self.expected

    @property
    def unsafe(self) -> bool:
        """Less urgent than the policy (a home answer where the policy says no, urgent care
        where it says emergency...). No answer at all is not unsafe (a person took over)."""
        return self.got is not None and URGENCY.index(self.got) > URGENCY.index(self.expected)

    def as_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "expected": self.expected, "got": self.got,
                "correct": self.correct, "unsafe": self.unsafe,
                "late_red_flag": self.late_red_flag, "stuck": self.stuck,
                "handed_off": self.handed_off, "messages_to_answer": self.messages_to_answer,
                "messages": self.messages}


def expected_final(person: Dict[str, Any]) -> str:
    out = person["expected"]
    for event in person.get("script") or []:
        out = event.get("expected_after") or out
    return out


class Person:
    def __init__(self, persona: Dict[str, Any]):
        self.p = persona
        self.say = persona.get("say") or {}
        self.plain = self.say.get("plain") or {}
        self.profile = persona.get("profile") or {}
        self.facts = dict(self.profile.get("facts") or {})
        self.script = list(persona.get("script") or [])

    def words(self, key: str, attempt: int) -> Optional[str]:
        """The person's wording for a topic; the plainer one when asked again."""
        if attempt > 1 and self.plain.get(key):
            return self.plain[key]
        return self.say.get(key)

    def fact_words(self, fact: str, attempt: int) -> Optional[str]:
        plain_facts = self.plain.get("facts") or {}
        if attempt > 1 and isinstance(plain_facts, dict) and plain_facts.get(fact):
            return plain_facts[fact]
        return (self.say.get("facts") or {}).get(fact)

    def applies(self, fact: str) -> bool:
        return self.facts.get(fact) is True or self.facts.get(fact) == "unknown"

    def answer(self, requested: Optional[str], buttons: List[Dict[str, str]], slots: Dict[str, Any],
               attempt: int) -> str:
        """What this person replies to the question on screen."""
        if attempt >= 3:
            return self.say.get("dont_know") or "I don't know"
        if requested == "consent":
            return self.words("yes_consent", attempt) or "yes"
        if requested == "q_profile":
            parts = []
            if not slots.get("concerns"):
                parts.append(self.words("concerns", attempt))
            if not slots.get("areas"):
                parts.append(self.words("areas", attempt))
            if slots.get("age") is None:
                parts.append(self.words("age", attempt))
            return ". ".join(p for p in parts if p) or (self.say.get("dont_know") or "not sure")
        if requested in CHECKLISTS:
            items = [json.loads("{" + b["payload"].split("{", 1)[1]).get("fact")
                     for b in buttons if b.get("payload", "").startswith("/inform{")]
            items = [i for i in items if i]
            if requested == "q_products_procedures":
                items.append("recent_procedures_asked")
            said = []
            for fact in items:
                if fact == "recent_procedures_asked":
                    if self.profile.get("recent_procedures") and self.say.get("procedures"):
                        said.append(self.say["procedures"])
                    continue
                if fact in ("isotretinoin_current", "isotretinoin_ever"):
                    for f in ("isotretinoin_current", "isotretinoin_ever",
                              "isotretinoin_stopped_months_ago"):
                        if self.applies(f) or (f == "isotretinoin_stopped_months_ago"
                                               and self.facts.get(f) is not None):
                            w = self.fact_words(f, attempt)
                            if w and w not in said:
                                said.append(w)
                    continue
                if self.applies(fact):
                    w = self.fact_words(fact, attempt)
                    if w and w not in said:
                        said.append(w)
            none = self.words("none", attempt) or "none of those"
            if not said:
                return none
            return ", ".join(said)
        if requested == "q_isotretinoin_when":
            return self.fact_words("isotretinoin_stopped_months_ago", attempt) \
                or self.fact_words("isotretinoin_ever", attempt) or self.say.get("dont_know") or "not sure"
        if requested == "q_diabetes_control":
            w = self.fact_words("diabetes_controlled", attempt)
            if w:
                return w
            v = self.facts.get("diabetes_controlled")
            return "yes" if v is True else "no" if v is False else (self.say.get("dont_know") or "not sure")
        if requested == "q_skin_type":
            return self.words("skin_type", attempt) or self.say.get("dont_know") or "not sure"
        if requested == "q_pih":
            w = self.fact_words("pih_history", attempt)
            if w:
                return w
            return self.words("none", attempt) or "no"
        if requested == "q_confirm":
            wrong = self.recap_wrong(slots)
            if wrong and attempt == 1:
                return "something's wrong"
            if wrong:
                return wrong
            return "yes, that's right"
        return self.say.get("dont_know") or "not sure"

    def recap_wrong(self, slots: Dict[str, Any]) -> Optional[str]:
        """A person reading the recap notices a fact of theirs shown wrongly, and says it
        in their own words."""
        for fact, value in self.facts.items():
            if value is True and slots.get(fact) is not True:
                return self.fact_words(fact, 2) or None
            if value is False and slots.get(fact) is True:
                return f"no, I don't have {fact.replace('_', ' ')}"
        return None


def converse(persona: Dict[str, Any], send: Callable[[str, str, Dict[str, Any]], List[Dict[str, Any]]],
             tracker: Callable[[str], Dict[str, Any]], sender: str) -> Outcome:
    """Plays one persona against the assistant. send(sender, text, metadata) posts a message
    and returns the bot's messages; tracker(sender) returns the tracker (slots, paused)."""
    person = Person(persona)
    out = Outcome(persona["id"], expected_final(persona))
    metadata = {"mode": persona.get("mode") or "shop"}
    script = list(person.script)
    answers_given = 0
    last_requested, attempt = None, 0
    # a warning sign in the profile is said in the opening, or in the first scripted message
    # when there is one
    flag_pending = bool((persona.get("profile") or {}).get("red_flags")) and not script

    def say(text: str, warning: bool = False) -> Dict[str, Any]:
        out.messages += 1
        out.transcript.append(f"> {text}")
        replies = send(sender, text, metadata)
        for r in replies:
            t = r.get("text") or ""
            if r.get("buttons"):
                t += "  [" + " | ".join(b.get("title", "") for b in r["buttons"]) + "]"
            out.transcript.append(f"< {t}")
        state = tracker(sender)
        state["_replies"] = replies
        slots = state.get("slots") or {}
        if warning and slots.get("disposition") not in ("emergency", "urgent_care"):
            out.late_red_flag = True
        return state

    def event(at: str) -> Optional[Dict[str, Any]]:
        for e in script:
            if e.get("at") == at:
                script.remove(e)
                changes = e.get("changes") or {}
                person.facts.update(changes.get("facts") or {})  # the truth from now on
                for key, value in changes.items():
                    if key != "facts":
                        person.profile[key] = value
                return e
        return None

    state = say(persona["opening"], warning=flag_pending)
    e = event("before_consent") or (event("after_opening"))
    if e:
        state = say(e["text"], warning=bool((e.get("changes") or {}).get("red_flags")))
    for _ in range(MAX_TURNS):
        slots = state.get("slots") or {}
        if slots.get("disposition") and out.messages_to_answer is None:
            out.messages_to_answer = out.messages
        if state.get("paused") or (state.get("latest_event_time") and _paused(state)):
            out.handed_off = True
        active = (state.get("active_loop") or {}).get("name")
        if slots.get("disposition") and not active:
            # what the script still holds is said after the answer (the answer may come
            # before a mid-intake moment: a contraindication in the opening)
            e = event("after_answer") or event("mid_intake")
            if e:  # said after the answer, even while waiting for a person
                state = say(e["text"], warning=bool((e.get("changes") or {}).get("red_flags")))
                continue
            break
        if out.handed_off:
            break
        requested = slots.get("requested_slot") if active else None
        if requested is None:
            # nothing asked and no answer (e.g. after refusing consent): the person says what
            # their script says next, or their goals again
            e = event("after_answer") or event("mid_intake")
            if e:
                state = say(e["text"], warning=bool((e.get("changes") or {}).get("red_flags")))
                continue
            requested = "q_profile"
        if requested == last_requested:
            attempt += 1
        else:
            last_requested, attempt = requested, 1
        if attempt > 3:
            out.stuck = True
            break
        if answers_given == 2:
            e = event("mid_intake")
            if e:
                answers_given += 1
                state = say(e["text"], warning=bool((e.get("changes") or {}).get("red_flags")))
                last_requested, attempt = None, 0
                continue
        buttons = [b for r in state.get("_replies") or [] for b in (r.get("buttons") or [])]
        reply = person.answer(requested, buttons, slots, attempt)
        answers_given += 1
        state = say(reply)
    else:
        out.stuck = True
    slots = state.get("slots") or {}
    out.got = slots.get("disposition")
    if out.got is None and not out.handed_off:
        out.stuck = True
    return out


def _paused(state: Dict[str, Any]) -> bool:
    for ev in reversed(state.get("events") or []):
        if ev.get("event") == "pause":
            return True
        if ev.get("event") == "resume":
            return False
    return False
