"""What the assistant understands from realistic sentences: the project's spaCy pipeline
(built in memory from the knowledge base's lexicon; the Rasa model is not needed), the entity
conversion and `facts_from_message`, i.e. the same code path as a conversation.

Rasa lowercases the text before spaCy (case_sensitive: false), so the sentences are
lowercased here too.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # also when run as plain `pytest`, not `python -m pytest`
    sys.path.insert(0, str(REPO))

from actions.nlu import spacy_pipeline  # noqa: E402
from actions.nlu.entities import entities_from_doc  # noqa: E402
from actions.nlu.facts import facts_from_message, to_contract  # noqa: E402

WHOLE_FACE = ["forehead", "cheeks", "chin_jaw", "nose"]
NOTHING: Dict[str, Any] = {"facts": {}, "concerns": [], "areas": [], "red_flags": [],
                           "device": {}, "age": None, "skin_type": None,
                           "recent_procedures": {}}


# The day the expected figures below were worked out from ("in August" = 3.5 months ago).
TODAY = __import__("datetime").date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _a_fixed_today(monkeypatch):
    monkeypatch.setattr(spacy_pipeline, "today_", lambda: TODAY)


@pytest.fixture(scope="module")
def nlp():
    return spacy_pipeline.current()


def entities(nlp, text: str):
    return entities_from_doc(nlp(text.lower()))


def understand(nlp, text: str, intent: str = "inform") -> Dict[str, Any]:
    return to_contract(facts_from_message(entities(nlp, text), intent=intent, text=text))


def case(id_, text, **expected):
    return pytest.param(text, expected, id=id_)


def bug(id_, text, reason, **expected):
    """A case that once was a bug (reason: what went wrong); kept as a regression test."""
    return pytest.param(text, expected, id=id_)


# Each row: a sentence and everything the assistant should take from it. Keys not given must
# come out empty: understanding something that was not said is as wrong as missing something.
CASES = [
    # --- medicines by brand name -----------------------------------------------------
    case("accutane-as-teen", "I took Accutane as a teen",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True}),
    case("roaccutane-now", "I'm on Roaccutane", facts={"isotretinoin_current": True, "isotretinoin_ever": True}),
    case("absorica-now", "I'm currently on Absorica", facts={"isotretinoin_current": True, "isotretinoin_ever": True}),
    case("claravis-now", "I take Claravis", facts={"isotretinoin_current": True, "isotretinoin_ever": True}),
    case("eliquis", "I'm on Eliquis", facts={"anticoagulant": True}),
    case("xarelto", "I take Xarelto", facts={"anticoagulant": True}),
    case("warfarin", "I take warfarin daily", facts={"anticoagulant": True}),
    case("coumadin", "I take Coumadin", facts={"anticoagulant": True}),
    case("plavix", "I'm on Plavix", facts={"anticoagulant": True}),
    case("daily-aspirin", "I take a daily aspirin", facts={"anticoagulant": True}),
    case("blood-thinners", "I'm on blood thinners", facts={"anticoagulant": True}),
    case("chemo", "I'm on chemo", facts={"immunosuppressed": True}),
    case("tretinoin", "My doctor prescribed tretinoin", facts={"topical_rx": True}),
    case("retinol", "I use retinol every night", facts={"topical_retinoid_otc": True}),
    # --- everyday words for conditions ------------------------------------------------
    case("nursing", "I'm nursing", facts={"breastfeeding": True}),
    case("nursing-my-baby", "I'm nursing my baby", facts={"breastfeeding": True}),
    case("breast-feeding-hyphen", "I'm breast-feeding", facts={"breastfeeding": True}),
    case("months-pregnant", "I'm 5 months pregnant", facts={"pregnant": True}),
    case("raised-scars-that-grow", "I get raised scars that grow",
         facts={"keloid_history": True}),
    case("nickel", "I'm allergic to nickel", facts={"metal_allergy": True}),
    case("cold-sores-history", "I get cold sores", facts={"cold_sore_history": True}),
    case("cold-sore-now", "I have a cold sore right now", facts={"cold_sore_active": True,
                                                                "cold_sore_history": True}),
    case("diabetes-controlled", "I have type 2 diabetes, well controlled",
         facts={"diabetes": True, "diabetes_controlled": True}),
    case("diabetes-not-controlled", "my diabetes is not well controlled",
         facts={"diabetes": True, "diabetes_controlled": False}),
    case("diabetes-under-control", "I have diabetes but it's under control",
         facts={"diabetes": True, "diabetes_controlled": True}),
    # --- negation -----------------------------------------------------------------------
    case("not-pregnant", "I'm not pregnant", facts={"pregnant": False}),
    case("not-pregnant-curly-apostrophe", "I\u2019m not pregnant", facts={"pregnant": False}),
    case("never-keloids", "I've never had keloids", facts={"keloid_history": False}),
    case("no-keloids", "no keloids", facts={"keloid_history": False}),
    case("keloids-colon-none", "Keloids: none", facts={"keloid_history": False}),
    case("no-thinners-or-aspirin", "no blood thinners or aspirin",
         facts={"anticoagulant": False}),
    case("not-taking-any-thinners", "No, I'm not on any blood thinners",
         facts={"anticoagulant": False}),
    case("dont-take-aspirin", "I don't take aspirin", facts={"anticoagulant": False}),
    case("not-pregnant-and-eczema", "I'm not pregnant, and I have eczema",
         facts={"pregnant": False, "eczema": True}),
    case("not-pregnant-but-breastfeeding", "I'm not pregnant but I'm breastfeeding",
         facts={"pregnant": False, "breastfeeding": True}),
    case("not-pregnant-or-breastfeeding", "I'm not pregnant or breastfeeding",
         facts={"pregnant": False, "breastfeeding": False}),
    case("no-list", "no eczema, psoriasis or rosacea",
         facts={"eczema": False, "psoriasis": False, "rosacea": False}),
    case("never-accutane", "I never took accutane",
         facts={"isotretinoin_current": False, "isotretinoin_ever": False}),
    case("dont-have-keloids-but-rosacea", "I don't have keloids, but I have rosacea",
         facts={"keloid_history": False, "rosacea": True}),
    case("no-but-warfarin", "no, but I take warfarin", facts={"anticoagulant": True}),
    case("stopped-aspirin-but-warfarin", "I stopped taking aspirin but I'm on warfarin",
         facts={"anticoagulant": True}),
    # --- past and present ----------------------------------------------------------------
    # a vague past says nothing about now (policy section 9): unknown, and asked
    case("used-to-have-eczema", "I used to have eczema"),
    case("eczema-since-kid", "I've had eczema since I was a kid", facts={"eczema": True}),
    case("acne-as-teenager", "I had acne as a teenager"),
    case("pregnant-years-ago", "I was pregnant 2 years ago"),
    case("sunburn-3-days-ago", "I had a sunburn 3 days ago", facts={"sunburn": True}),
    # the policy's condition is "fully healed", which two weeks does not say
    case("sunburn-2-weeks-ago", "I had a sunburn 2 weeks ago"),
    case("stopped-aspirin", "I stopped taking aspirin", facts={"anticoagulant": False}),
    # --- time ----------------------------------------------------------------------------
    case("accutane-two-years-ago", "I stopped Accutane two years ago",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True,
                "isotretinoin_stopped_months_ago": 24.0}),
    case("isotretinoin-3-months-ago", "finished isotretinoin 3 months ago",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True,
                "isotretinoin_stopped_months_ago": 3.0}),
    case("accutane-a-year-ago", "I stopped accutane a year ago",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True,
                "isotretinoin_stopped_months_ago": 12.0}),
    case("roaccutane-6-months-ago", "I came off roaccutane 6 months ago",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True,
                "isotretinoin_stopped_months_ago": 6.0}),
    case("accutane-last-month", "I stopped Accutane last month",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True,
                "isotretinoin_stopped_months_ago": 1.0}),
    case("botox-last-week", "I had botox last week", recent_procedures={"botox": 7}),
    case("filler-10-days-ago", "I had filler 10 days ago", recent_procedures={"filler": 10.0}),
    case("peel-yesterday", "I had a chemical peel yesterday", recent_procedures={"peel": 1}),
    case("laser-3-weeks-ago", "I had laser 3 weeks ago", recent_procedures={"laser": 21.0}),
    case("botox-and-filler", "I had Botox 3 days ago and filler last month",
         recent_procedures={"botox": 3.0, "filler": 30.4}),
    # --- numbers -------------------------------------------------------------------------
    case("1.5mm", "my pen is 1.5mm", device={"type": "pen", "needle_mm": 1.5}),
    case("0.5-mm", "I use a 0.5 mm roller", device={"type": "roller", "needle_mm": 0.5}),
    case("0.25mm", "I have a 0.25mm derma roller", device={"type": "roller", "needle_mm": 0.25}),
    case("half-a-millimetre", "half a millimetre", device={"needle_mm": 0.5}),
    case("age-29", "I'm 29", age=29),
    case("age-thirty-two", "I'm thirty two years old", age=32),
    case("age-45-years-old", "I am 45 years old", age=45),
    case("age-y/o", "28 y/o", age=28),
    case("age-17", "I'm 17", age=17),
    case("age-seventeen", "I'm seventeen", age=17),
    # --- hypotheticals and questions state nothing ---------------------------------------
    case("what-if-pregnant", "what if I'm pregnant?"),
    case("can-i-on-accutane", "can I microneedle if I'm on accutane?"),
    case("is-it-safe-eczema", "is it safe with eczema?"),
    case("not-sure-if-pregnant", "I'm not sure if I'm pregnant"),
    # --- goals, areas, devices, skin type --------------------------------------------------
    case("whole-face", "I want to do my whole face", areas=WHOLE_FACE),
    case("profile-sentence", "fine lines on my forehead, I'm 34",
         concerns=["fine_lines_wrinkles"], areas=["forehead"], age=34),
    case("profile-long", "I am 34 and I'd like to treat wrinkles on my neck with a derma roller",
         concerns=["fine_lines_wrinkles"], areas=["neck"], device={"type": "roller"}, age=34),
    case("acne-scars-cheeks", "I have acne scars on my cheeks",
         concerns=["acne_scars"], areas=["cheeks"]),
    case("stretch-marks-thighs", "I want to get rid of my stretch marks on my thighs",
         concerns=["stretch_marks"], areas=["body"]),
    case("neck-and-decollete", "I'm 62 and I want to do my neck and decollete",
         areas=["neck", "decollete"], age=62),
    case("olive-skin", "I have olive skin", skin_type=4),
    # two descriptions: the darker type, the cautious reading (more care about dark marks)
    case("very-fair", "I burn easily, very fair", skin_type=2),
    # --- warning signs ---------------------------------------------------------------------
    case("pus-and-fever", "I have pus and a fever", red_flags=["pus", "fever"]),
    case("swelling-and-breathing", "My face is swollen and I can't breathe",
         red_flags=["face_swelling", "breathing_difficulty"]),
    case("oozing-pus", "It's oozing pus", red_flags=["pus"]),
    # --- bugs (see the reasons) ------------------------------------------------------------
    # --- issue 9: people who do not talk like the training data ---------------------------
    case("medicine-date-belongs-to-event",
         "my cardiologist started me on Brilinta after my heart attack three years back",
         facts={"anticoagulant": True}),
    case("xarelto-since-stent", "on xeralto since my stent in 2019", facts={"anticoagulant": True}),
    case("typo-eliquis", "not pregnant but on eliqus",
         facts={"pregnant": False, "anticoagulant": True}),
    case("growth-never-checked",
         "a little growth by my ear that's been there ages, never had anyone look at it",
         facts={"suspicious_lesion": True}),
    case("hedge-too-early", "possibly pregnant, too early to tell"),
    case("hedge-might-be", "I might be pregnant"),
    case("hedge-as-far-as-i-know", "Never had keloids as far as I know."),
    case("hedge-after-question", "Blood thinners? I don't think so"),
    case("cold-sores-round-mouth-is-no-area", "I'm prone to cold sores around my mouth",
         facts={"cold_sore_history": True}),
    case("mole-removed-from-back", "I had a mole removed from my back"),
    case("family-history", "my mum has keloids and my sister has lupus"),
    case("age-44m", "is a 1 mm roller alright for the lines round my mouth? 44M",
         concerns=["fine_lines_wrinkles"], areas=["chin_jaw"], age=44,
         device={"type": "roller", "needle_mm": 1.0}),
    case("needle-without-unit", "thinking of the 0.25 pen for my nose",
         areas=["nose"], device={"type": "pen", "needle_mm": 0.25}),
    case("point-two-five", "dermastamp point two five", device={"type": "stamp", "needle_mm": 0.25}),
    case("mouth-blowing-up", "my mouth is blowing up and my throat feels like it's closing",
         red_flags=["face_swelling", "breathing_difficulty"]),
    case("cant-get-air", "I can't get air in properly", red_flags=["breathing_difficulty"]),
    case("lips-feel-swollen", "my lips feel swollen after the pen", red_flags=["face_swelling"],
         device={"type": "pen"}),
    case("non-native-red-and-hot", "my skin become very red and hot, what I must do?",
         red_flags=["spreading_redness"]),
    case("yellow-gunk", "there's yellow gunk coming out of the dots", red_flags=["pus"]),
    case("bleeding-held-pressure", "The bleeding hasn't stopped, I've held pressure for 20 minutes.",
         red_flags=["persistent_bleeding"]),
    case("normal-reaction", "no pus, no fever, just red n tight"),
    case("swelling-gone", "had some swelling on my lips but it has gone down now",
         ),
    case("under-18", "can i buy a derma roller if im under 18? its for my pores",
         age=17, concerns=["enlarged_pores"], device={"type": "roller"}),
    case("like-a-mild-sunburn", "I was pink for about a day, like a mild sunburn"),
    case("pregnancy-patches", "the brown pregnancy patches on my cheekbones",
         concerns=["melasma"], areas=["cheeks"]),
    case("cuts-heal-without-marks", "my cuts and spots heal without leaving marks"),
    case("late-forties", "I'm in my late forties", age=46),
    case("early-30s", "early 30s, pores on my nose", age=30, concerns=["enlarged_pores"],
         areas=["nose"]),
    case("teens", "I'm in my teens", age=13),
    bug("hyphen-twenty-nine", "I'm twenty-nine",
        "hyphenated number words: spaCy splits 'twenty-nine' into twenty / - / nine and "
        "_number_at stops at the hyphen, giving age 20", age=29),
    bug("hyphen-thirty-two", "thirty-two years old",
        "hyphenated number words: 'thirty-two years old' gives age 2 (only 'two years old' "
        "is read)", age=32),
    bug("im-without-apostrophe", "im 29",
        "spaCy tokenizes 'im' as 'i' + 'm', so the 'im' in AGE_BEFORE never matches", age=29),
    bug("decimal-comma", "my roller is 0,5 mm",
        "a decimal comma is parsed by _number_at but the unit lookup strips only '.' decimals "
        "(tail ',5' is taken as the unit)", device={"type": "roller", "needle_mm": 0.5}),
    bug("leading-point", "a .5mm roller",
        "'.5' without a leading zero is not read as a number", device={"type": "roller",
                                                                        "needle_mm": 0.5}),
    bug("quarter-of-a-millimetre", "a quarter of a millimetre",
        "'a quarter of a millimetre' reads as 1 mm ('a millimetre'), which is above the home "
        "limit", device={"needle_mm": 0.25}),
    bug("on-warfarin-stopped-aspirin", "I'm on warfarin but I stopped aspirin",
        "two mentions of one fact: the later one (stopped aspirin -> False) overwrites 'on "
        "warfarin' (True); a current 'yes' must win", facts={"anticoagulant": True}),
    bug("not-pregnant-comma-on-accutane", "Not pregnant, on accutane",
        "negation crosses the comma into the next item: 'on accutane' is read as not on "
        "accutane", facts={"pregnant": False, "isotretinoin_current": True,
                                                "isotretinoin_ever": True}),
    bug("nope-only-warfarin", "nope, only warfarin",
        "a leading 'no,'/'nope,' negates the item named after the comma, even with "
        "'only'/'just'", facts={"anticoagulant": True}),
    bug("no-just-diabetes", "no, just diabetes",
        "a leading 'no,'/'nope,' negates the item named after the comma, even with "
        "'only'/'just'", facts={"diabetes": True}),
    # --- skin type told by how one burns and tans (no type named) ----------------------
    case("burn-now-and-then-tan-evenly", "I burn now and then but tan pretty evenly after",
         skin_type=3),
    case("burn-quick-little-tan", "I burn quick, a little tan after", skin_type=2),
    case("rarely-burn-tan-easily", "I tan easily, rarely burn", skin_type=4),
    case("never-tan-always-burn", "I never tan, always burn", skin_type=1),
    bug("diabetic-type-2", "I'm diabetic, type 2",
        "'type 2' of a diabetes was read as skin type 2", facts={"diabetes": True}),
    # --- warning signs in everyday words ------------------------------------------------
    bug("denial-in-an-earlier-clause", "the redness didn't fade, it's now spread down onto my neck",
        "the 'didn't' of the first clause hid the spreading redness of the second",
        red_flags=["spreading_redness"]),
    case("shaking-cold", "I have shaking cold since last night", red_flags=["fever"]),
    case("lips-tingly-and-swollen", "my lips are starting to feel tingly and swollen",
         red_flags=["face_swelling"]),
    bug("scars-killing-me", "my acne scars are killing me",
        "'killing me' alone was read as severe pain", concerns=["acne_scars"]),
    # --- what one fact says of another; hedges; ages --------------------------------------
    case("cold-sore-now-is-a-history", "I've got a cold sore right now",
         facts={"cold_sore_active": True, "cold_sore_history": True}),
    case("never-had-a-cold-sore", "never had a cold sore",
         facts={"cold_sore_active": False, "cold_sore_history": False}),
    case("is-that-a-keloid", "the scar is red and raised, is that a keloid?",
         facts={}, concerns=["acne_scars"]),
    case("chemo-finished-in-september", "I finished chemo in September",
         facts={}),
    bug("fifteen-minutes-is-not-an-age", "still bleeding after pressing for like 15 min",
        "a lone '15' became the age", red_flags=["persistent_bleeding"]),
    case("roll-names-the-roller", "want to roll my forehead", areas=["forehead"],
         device={"type": "roller"}),
    # --- warning signs told by comparison, by a number, by what did not help ---------------
    case("fever-as-a-number", "thermometer says 38.7 this morning", red_flags=["fever"]),
    case("fever-in-fahrenheit", "running 101.3 f since last night", red_flags=["fever"]),
    case("hot-weather-is-no-fever", "it was 100 degrees out and I burnt my nose",
         facts={"sunburn": True}),
    case("eyes-swollen-shut", "both my eyes are nearly shut this morning",
         red_flags=["face_swelling"]),
    case("face-like-a-balloon", "my face looks like a balloon", red_flags=["face_swelling"]),
    case("breathing-through-a-straw", "feels like breathing through a straw",
         red_flags=["breathing_difficulty"]),
    case("painkillers-not-touching-it", "the throbbing pain isn't even touching with painkillers",
         red_flags=["severe_pain"]),
    case("wont-clot", "one dot just won't clot", red_flags=["persistent_bleeding"]),
    bug("two-words-two-sentences", "On Xarelto since a blood clot in March. Still taking it.",
        "'blood' and 'still' in two sentences were read as bleeding that won't stop",
        facts={"anticoagulant": True}),
    case("pink-spreading", "the pink is spreading towards my ear", red_flags=["spreading_redness"]),
    case("fluid-filled-bumps", "little fluid filled bumps came up on my chin",
         red_flags=["blisters"]),
    case("papules-come-up", "firm papules have come up where I needled", red_flags=["new_lumps"]),
    bug("not-used-it-yet", "bit of a fever today, should I wait? haven't used it yet",
        "a fever before any treatment was read as a warning sign after one"),
    bug("bleeding-stopped-straight-away", "a few dots of blood, stopped straight away",
        "pinpoint bleeding that stopped was read as bleeding that won't stop"),
    bug("big-red-spots-are-not-spreading", "I have big red spots",
        "'big' (the dictionary form of 'bigger') was read as redness getting bigger"),
    # --- denials, dates and answers in few words ----------------------------------------------
    bug("x-no-y-no", "sunburn no. eczema no.",
        "a 'no' after a fact, closing its sentence, was not read as a denial",
        facts={"sunburn": False, "eczema": False}),
    case("no-thinners", "no thinners", facts={"anticoagulant": False}),
    case("stopped-a-while-ago-asks-when", "I stopped accutane a while ago",
         facts={"isotretinoin_current": False, "isotretinoin_ever": True}),
    bug("half-is-not-a-needle", "I stopped accutane in the second half of August",
        "'half' was read as a 0.5 mm needle",
        facts={"isotretinoin_current": False, "isotretinoin_ever": True,
               "isotretinoin_stopped_months_ago": 3.5}),
    case("no-procedures-this-year", "no procedures this year",
         facts={"recent_procedures_asked": True}),
    case("one-procedure-and-thats-it", "botox a month ago, that's it",
         facts={"recent_procedures_asked": True}, recent_procedures={"botox": 30.4}),
    case("methotrexate-once-a-week", "I take methotrexate once a week",
         facts={"immunosuppressed": True}),
    bug("cant-wear-cheap-earrings", "can't wear cheap earrings, my ears itch",
        "'can't' was read as a denial of the metal allergy", facts={"metal_allergy": True}),
    case("wants-to-start-me-on", "my derm wants to start me on accutane next year"),
    case("fever-with-the-flu", "feel like I have the flu, 38.6 this morning", red_flags=["fever"]),
    case("hot-and-shaky", "i feel hot and shaky", red_flags=["fever"]),
    case("lips-kind-of-fat", "my lips feel tingly and kind of fat", red_flags=["face_swelling"]),
    case("redness-bigger-and-bigger", "the red goes bigger and bigger", red_flags=["spreading_redness"]),
    case("bumps-weeks-later-are-lumps", "it's been 2 weeks since the pen and itchy red bumps came up",
         red_flags=["new_lumps"], device={"type": "pen"}),
    case("bumps-within-the-hour-are-hives", "an hour after the roller, itchy red bumps everywhere",
         red_flags=["hives"], device={"type": "roller"}),
    bug("she-is-pregnant-i-am-not", "my sister can't, she's pregnant, but I'm not pregnant",
        "the sister's pregnancy was the writer's", facts={"pregnant": False}),
    bug("question-about-stopping-a-serum", "do I need to stop my vitamin c serum first?",
        "'stop' in a question was read as having stopped it"),
    bug("brown-patches-since-pregnancy-are-melasma",
        "brown patches on my cheeks since I was pregnant two years ago",
        "patches of pigment with a hormonal cause were read as plain dark spots (a home concern)",
        concerns=["melasma"], areas=["cheeks"], facts={}),
    case("a-habit-told-with-if", "if I get a spot or a scratch it leaves a darker mark for weeks",
         facts={"pih_history": True}),
    case("a-skin-type-told-with-if", "I burn if I'm daft about it, get a bit brown eventually",
         skin_type=3),
    case("what-if-stays-a-question", "what if I get keloids?"),
    bug("blisters-as-a-kid", "I had blisters on my lip a few times as a kid",
        "a childhood memory was read as a warning sign after a treatment"),
    bug("stopping-at-christmas", "I'm stopping my isotretinoin at Christmas",
        "a stop still to come was read as a past course",
        facts={"isotretinoin_current": True, "isotretinoin_ever": True}),
    case("lumps-months-later", "months later I've still got small raised bumps there",
         red_flags=["new_lumps"]),
    bug("growth-factor-serum", "I used a growth factor serum",
        "'growth' of a serum's name was read as a skin growth"),
    bug("i-was-breastfeeding-not-now", "I WAS breastfeeding, stopped in August, so not breastfeeding at all",
        "a past mention left the fact unknown although the same message says no",
        facts={"breastfeeding": False}),
    bug("a-keloid-scar-is-history", "I want my skin smoother, but when I pierce my ear I get a big scar, doctor says keloid",
        "the keloid's scar became a scar to treat", facts={"keloid_history": True},
        concerns=["texture"]),
    bug("two-needle-lengths-the-longer", "is 1mm ok for forehead lines? the 0.5 does nothing",
        "the later, shorter length was taken for a person asking about 1 mm",
        concerns=["fine_lines_wrinkles"], areas=["forehead"], device={"needle_mm": 1.0}),
    bug("never-tested-for-an-allergy", "I've never been tested for metal allergies",
        "'never' was read as a denial of the allergy"),
    bug("a-date-corrected-away", "my last isotretinoin was in August this year, not last year",
        "'not last year' replaced the August date",
        facts={"isotretinoin_current": False, "isotretinoin_ever": True,
               "isotretinoin_stopped_months_ago": 3.5}),
    # --- dates said twice, or by a day of the month ---------------------------------------------
    bug("a-date-said-once-stands", "filler in my cheeks on the 20th of November, Juvederm",
        "the second, undated mention of the filler made it today",
        recent_procedures={"filler": 11.0}),
    case("on-the-25th", "tox on the 25th", recent_procedures={"botox": 6.4}),
    case("chemical-peeling-a-month-ago", "I do chemical peeling 1 month ago",
         recent_procedures={"peel": 30.4}),
    case("immune-issues-denied", "no immune issues", facts={"immunosuppressed": False}),
    case("on-xeljanz", "I'm on Xeljanz", facts={"immunosuppressed": True}),
    # --- a place named for a complaint ----------------------------------------------------------
    case("rash-site-is-not-an-area", "I get a rash on my neck in winter, want to do my forehead",
         areas=["forehead"]),
    case("rest-of-face-is-fine", "my face is fine, I want to do my neck", areas=["neck"]),
    bug("face-perfectly-clear", "psoriasis on my knees but my face is totally clear, want my neck done",
        "an adverb between the place and 'clear' made the whole face a treatment area",
        facts={"psoriasis": True}, areas=["neck"]),
    bug("past-procedure-site", "had IPL for brown spots on my cheeks 10 days ago, can I do my neck?",
        "the cheeks a laser was aimed at became a treatment area",
        concerns=["hyperpigmentation"], areas=["neck"], recent_procedures={"laser": 10.0}),
    bug("graft-site", "skin grafts on my hands after a fire, I want to do my forehead lines",
        "the place of a graft became a treatment area",
        concerns=["fine_lines_wrinkles"], areas=["forehead"]),
    # --- a denial closed by a tag question asks -------------------------------------------------
    case("that-is-right-agrees", "no, I'm not on any blood thinners, that's right",
         facts={"anticoagulant": False}),
    case("right-now-is-no-tag", "I'm not pregnant right now", facts={"pregnant": False}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_understanding(nlp, text, expected):
    assert understand(nlp, text) == {**NOTHING, **expected}


# ------------------------------------------------------------------ entity-level details

def test_a_date_in_words_is_counted_from_today(nlp):
    import datetime as dt
    today = TODAY
    christmas = dt.date(today.year if (12, 25) <= (today.month, today.day) else today.year - 1, 12, 25)
    out = understand(nlp, "came off Claravis at Christmas")["facts"]
    assert out["isotretinoin_current"] is False and out["isotretinoin_ever"] is True
    assert out["isotretinoin_stopped_months_ago"] == pytest.approx(
        (today - christmas).days / 30.4375, abs=0.1)


def test_a_hedged_fact_is_reported_as_unknown_not_dropped(nlp):
    from actions.nlu.facts import facts_from_message
    update = facts_from_message(entities(nlp, "possibly pregnant, too early to tell"), intent="inform")
    assert update["facts"] == {} and update["unknown_facts"] == ["pregnant"]


def test_hypothetical_is_marked_not_dropped(nlp):
    (e,) = entities(nlp, "what if I'm pregnant?")
    assert e["entity"] == "fact" and e["value"] == "pregnant" and e["hypothetical"] is True


def test_duration_is_linked_to_the_mention(nlp):
    found = entities(nlp, "I stopped Accutane two years ago")
    fact = next(e for e in found if e["entity"] == "fact")
    assert fact["past"] is True and fact["ago_days"] == pytest.approx(730.5)
    assert any(e["entity"] == "duration" for e in found)


def test_entity_offsets_point_into_the_text(nlp):
    text = "i'm 29, on accutane, fine lines on my forehead"
    for e in entities(nlp, text):
        assert text[e["start"]:e["end"]] == e["text"]


def test_not_on_accutane_leaves_past_use_unknown(nlp):
    assert understand(nlp, "I'm not on accutane")["facts"] == {"isotretinoin_current": False}


def test_questions_state_no_health_facts_but_warning_signs_and_goals(nlp):
    # "while pregnant" is a hypothetical; the nose is what they want to treat
    assert understand(nlp, "can I do my nose while pregnant?", intent="faq_depth") == {
        **NOTHING, "areas": ["nose"]}
    assert understand(nlp, "is pus normal after needling?", intent="faq_redness") == {
        **NOTHING, "red_flags": ["pus"]}


# --------------------------------------------------------------------------- odd input

ODD = [
    pytest.param("", id="empty"),
    pytest.param("   \n\t  ", id="whitespace"),
    pytest.param("a" * 10_000, id="10000-chars-one-word"),
    pytest.param(("blah " * 2000)[:10_000], id="10000-chars-words"),
    pytest.param(("1 2 3 4 5 " * 1000)[:10_000], id="10000-chars-numbers"),
    pytest.param("👍🏽🤷\u200d♀️💉✨", id="emoji"),
    pytest.param("naïve café résumé 北京 مرحبا \u202eevil\u202c \u200b\ufeff", id="odd-unicode"),
    pytest.param("\x00\x01\x7f", id="control-chars"),
    pytest.param("<script>alert(1)</script>", id="script-tag"),
    pytest.param("Robert'); DROP TABLE intakes;--", id="sql-injection"),
    pytest.param("1; SELECT * FROM users WHERE 1=1 OR ''=''", id="sql-select"),
    pytest.param("{{7*7}} ${jndi:ldap://x} %s%n", id="template-injection"),
    pytest.param("/inform{\"fact\":\"pregnant\"", id="broken-payload-text"),
]


@pytest.mark.parametrize("text", ODD)
def test_odd_input_understands_nothing(nlp, text):
    assert understand(nlp, text) == NOTHING


def test_emoji_around_words_does_not_hide_them(nlp):
    assert understand(nlp, "I'm pregnant 🤰")["facts"] == {"pregnant": True}
    assert understand(nlp, "I have pus 😷 on my cheek")["red_flags"] == ["pus"]


def test_long_message_with_sentences(nlp):
    text = ("Not pregnant. Acne on my cheeks 2 weeks ago. " * 250)[:10_000]
    out = understand(nlp, text)
    # acne two weeks ago says nothing about now; the cheeks are where the acne was
    assert out["facts"] == {"pregnant": False}
    assert out["areas"] == []


class _TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise _TooSlow()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_long_run_on_message_is_fast(nlp):
    text = ("i have acne on my cheeks and my forehead and i would like to fix my skin and "
            * 130)[:10_000]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    try:
        out = understand(nlp, text)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert out["facts"] == {"active_acne": True}
    assert out["areas"] == []  # where the acne is, not where they want to microneedle


def test_not_on_it_anymore_is_a_past_course_with_its_date(nlp):
    out = understand(nlp, "I'm not on roaccutane anymore, I finished the course at the end of september")
    facts = out["facts"]
    assert facts["isotretinoin_current"] is False and facts["isotretinoin_ever"] is True
    assert facts["isotretinoin_stopped_months_ago"] > 0


def test_a_guess_of_the_trained_model_is_asked_never_a_yes_or_a_no():
    """What only the span categoriser proposes (the lexicon did not find it) leaves the fact
    unknown, affirmed or denied: "never got it checked" beside a keloid is not a mole."""
    for negated in (False, True):
        guess = {"entity": "fact", "value": "suspicious_lesion", "start": 0, "end": 5,
                 "text": "never got it checked", "negated": negated, "statistical": True}
        update = facts_from_message([guess], intent="inform", text="never got it checked")
        assert "suspicious_lesion" not in update["facts"]
        assert update["unknown_facts"] == ["suspicious_lesion"]


def test_the_trained_model_fills_only_gaps_the_lexicon_left(nlp):
    """Every mention the lexicon finds stays the lexicon's; the model's proposals are marked."""
    doc = nlp("i'm on warfarin and apixaban, want to roll my cheeks")
    found = {(e.text, e.ent_id_) for e in doc.ents if not e._.statistical}
    assert {("warfarin", "anticoagulant"), ("apixaban", "anticoagulant"),
            ("cheeks", "cheeks")} <= found
    assert "fact_spancat" in nlp.pipe_names and "fact_statistical" in nlp.pipe_names


def test_a_word_that_may_name_two_facts_leaves_both_asked(nlp):
    """"Only that spot by my ear, none of the others": the spot may be a pimple or a mole
    never checked, so both stay unknown (and are asked); the other items are a no. Read as
    acne alone, a later "no" to acne cleared the mole and the answer pointed toward home."""
    from actions.dialogue.state import QUESTIONS
    text = "only that spot by my ear, none of the others"
    ents = entities(nlp, text)
    update = facts_from_message(ents, intent="inform", text=text, question="skin_now",
                                unknown_items=list(QUESTIONS["skin_now"]["items"]),
                                rest_false=any(e.get("entity") == "rest_false" for e in ents))
    assert {"active_acne", "suspicious_lesion"} <= set(update["unknown_facts"])
    assert "suspicious_lesion" not in update["facts"] and "active_acne" not in update["facts"]
    assert update["facts"].get("sunburn") is False


@pytest.mark.parametrize("text, expected", [
    ("No, all this I do not have.", "no"),
    ("no, I don't have any of them", "no"),
    ("No, none of those, I'm sure about that.", "no"),  # "sure" said for emphasis
    ("yes I do", "yes"),
    ("I have not got a clue", "dont_know"),
    ("I am content with that.", "yes"),
    ("honestly I've never been tested, my dad has it", "dont_know"),
])
def test_short_answers_in_any_words(text, expected):
    from actions.nlu.facts import plain_answer
    assert plain_answer(text) == expected


def test_a_denial_between_the_two_words_is_no_warning_sign(nlp):
    """"my face and lips are not swollen" beside hives was read as facial swelling (an
    emergency); the hives still count (urgent care)."""
    out = understand(nlp, "itchy welts on my neck since the roller, my face and lips are not swollen")
    assert out["red_flags"] == ["hives"]


def test_ignore_what_i_said_takes_a_fact_back(nlp):
    out = understand(nlp, "ignore what I said about nursing, he's on formula now")
    assert out["facts"] == {"breastfeeding": False}


@pytest.mark.parametrize("text, skin_type", [
    ("my skin is brown, I rarely get sunburn", 4),
    ("I get sunburn easily", 2),
])
def test_how_one_gets_sunburnt_is_a_skin_type_not_a_sunburn(nlp, text, skin_type):
    out = understand(nlp, text)
    assert out["skin_type"] == skin_type and "sunburn" not in out["facts"]


def test_a_needle_length_corrected_away_is_not_taken(nlp):
    assert understand(nlp, "just checked the box, it's 0.5mm not 1.5")["device"] == {"needle_mm": 0.5}


@pytest.mark.parametrize("text, cleared", [
    ("the dermatologist looked at the mole and said it's harmless", True),
    ("my friend said the mole that got bigger is harmless", False),
    ("the derm said it's probably benign", False),
])
def test_a_mole_is_cleared_only_by_what_the_policy_waits_for(nlp, text, cleared):
    facts = understand(nlp, text)["facts"]
    assert (facts.get("suspicious_lesion") is False) == cleared


def test_nothing_for_months_ends_a_cold_sore(nlp):
    facts = understand(nlp, "sometimes the herpes on the lip, the cold sore, but not now, "
                            "since months nothing")["facts"]
    assert facts["cold_sore_active"] is False and facts["cold_sore_history"] is True


def test_dark_marks_said_to_the_dark_marks_question_are_a_yes(nlp):
    from actions.dialogue.state import QUESTIONS
    text = "yes, after pimples or cuts a dark mark stays for months"
    update = facts_from_message(entities(nlp, text), intent="inform", text=text, question="pih",
                                unknown_items=list(QUESTIONS["pih"]["items"]))
    assert update["facts"] == {"pih_history": True}  # the pimples and cuts are examples
    assert update["concerns"] == []


def test_sunburn_told_to_the_skin_type_question_is_how_one_burns(nlp):
    from actions.dialogue.state import QUESTIONS
    text = "I am rather light. I get fast a sunburn and become brown only a little."
    update = facts_from_message(entities(nlp, text), intent="inform", text=text,
                                question="skin_type",
                                unknown_items=list(QUESTIONS["skin_type"]["items"]))
    assert "sunburn" not in update["facts"] and update["skin_type"] == 2


def test_only_the_patch_near_my_temple_is_not_a_no_to_the_rest(nlp):
    """The issue's own example: something named that the lexicon does not know, in an answer
    to a checklist, leaves the items unknown (asked again), never "no" (a lexicon phrase
    "a growth near" once made "near" a known word and every item became a no)."""
    from actions.dialogue.state import QUESTIONS
    text = "only the patch near my temple, the rest is fine"
    ents = entities(nlp, text)
    update = facts_from_message(ents, intent="inform", text=text, question="skin_now",
                                unknown_items=list(QUESTIONS["skin_now"]["items"]),
                                rest_false=any(e.get("entity") == "rest_false" for e in ents))
    assert update["facts"] == {} and update["unclear"] is True


@pytest.mark.parametrize("text, fact", [
    ("blackheads everywhere, that's not acne right", "active_acne"),
    ("i dont have eczema do i?? my elbows get dry", "eczema"),
    ("my period is late but I'm not pregnant, am I?", "pregnant"),
])
def test_a_denial_closed_by_a_tag_question_is_asked(nlp, text, fact):
    """Found on blind set 6: "... not acne acne right", "i dont have rosacea do i??" were
    read as denials. A tag question asks: the fact stays unknown and is asked."""
    update = facts_from_message(entities(nlp, text), intent="inform", text=text)
    assert fact not in update["facts"] and fact in update["unknown_facts"]


@pytest.mark.parametrize("text, flag", [
    ("did my face last night and my lips look like I've had filler, they're really swollen",
     "face_swelling"),
    ("the chest tightness is getting worse since I used the pen", "breathing_difficulty"),
    ("after the pen I have big itchy red marks raised like mosquito on my neck", "hives"),
])
def test_warning_signs_found_on_blind_set_6(nlp, text, flag):
    """"they're" once made the swelling someone else's; chest tightness and marks like a
    mosquito's were not in the lexicon's words."""
    assert flag in understand(nlp, text)["red_flags"]


def test_a_fever_before_any_needling_is_not_after_a_treatment(nlp):
    text = "had a fever last week after a cat scratch, all sorted, haven't needled at all yet"
    assert understand(nlp, text)["red_flags"] == []


@pytest.mark.parametrize("text, facts, unknown", [
    ("I finished chemotherapy in the spring", {}, ["immunosuppressed"]),
    ("I stopped my chemo", {}, ["immunosuppressed"]),
    ("cheap earrings make my ears itchy but I've never been tested so I don't know if it's metal",
     {}, ["metal_allergy"]),
    ("the doctor did blood tests for lupus and I never heard back", {}, ["autoimmune_skin"]),
    ("I have keloids but I'm not sure about the others", {"keloid_history": True}, []),
    ("my skin finally calmed down after Accutane", {"isotretinoin_current": False,
                                                   "isotretinoin_ever": True}, []),
    ("they're not spots, I haven't had a breakout in months",
     {"active_acne": False, "suspicious_lesion": False}, []),
    ("trying for a baby and my period's a couple of days late", {}, ["pregnant"]),
])
def test_found_on_blind_set_7(nlp, text, facts, unknown):
    """Found on blind set 7 (measured first, then read): an end with no date or a recent one
    leaves a weakened immune system unsure; a doubt said after what it doubts; a test for
    something is no diagnosis; "calmed down after Accutane" is over; "not spots" is no mole."""
    update = facts_from_message(entities(nlp, text), intent="inform", text=text)
    assert update["facts"] == facts
    # each doubt is asked; the trained span model may add a question (never an answer)
    assert set(unknown) <= set(update["unknown_facts"])


def test_something_unknown_then_nothing_else_is_not_a_no_to_the_list(nlp):
    """"A pigment laser ten days ago. Nothing else." is read; "Rhinoplasty ... Nothing else"
    with a word I don't know is not a "none" to every item."""
    from actions.dialogue.state import QUESTIONS
    text = "Had a thing called zygoblast on my ears four months ago. Nothing else."
    ents = entities(nlp, text)
    update = facts_from_message(ents, intent="inform", text=text, question="products_procedures",
                                unknown_items=list(QUESTIONS["products_procedures"]["items"]),
                                rest_false=any(e.get("entity") == "rest_false" for e in ents))
    assert update["facts"] == {} and update["unclear"] is True
    assert understand(nlp, "a nose job five months ago")["recent_procedures"] == {"surgery": 152.2}


def test_a_place_taken_back_is_not_a_treatment_area(nlp):
    update = facts_from_message(entities(nlp, "ok, forget my lips then, just my cheeks"),
                                intent="inform", text="ok, forget my lips then, just my cheeks")
    assert update["areas"] == ["cheeks"] and update["not_areas"] == ["lips"]
    assert understand(nlp, "I'm not pregnant, want to do my cheeks")["areas"] == ["cheeks"]


@pytest.mark.parametrize("text,expected", [
    ("😀🤷\u200d♀️ ñ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e\u0000 ✨", "nlu_fallback"),
    ("can I talk to someone", "request_human"),
    ("get me a nurse", "request_human"),
])
def test_a_stray_message_is_no_request_for_a_person(text, expected):
    """Found by CI: an emoji-only message, guessed `request_human` by one trained model, handed
    the intake to the team. A request for a person names one or a way to reach one."""
    from rasa.shared.nlu.training_data.message import Message
    from actions.nlu.components import IntentCorrector
    m = Message(data={"text": text, "intent": {"name": "request_human", "confidence": 0.4},
                      "entities": []})
    IntentCorrector().process([m])
    assert m.get("intent")["name"] == expected


def test_a_place_taken_back_in_a_question_is_a_change_of_plan():
    """Found by CI after a retrain: "forget my lips then, can I just do my cheeks?" was
    answered with the depth FAQ and the plan stayed on the lips."""
    from rasa.shared.nlu.training_data.message import Message
    from actions.nlu.components import IntentCorrector
    text = "ah ok, forget my lips then, can I just do my cheeks for a glow?"
    ents = [{"entity": "area", "value": "lips", "negated": True},
            {"entity": "area", "value": "cheeks", "negated": False}]
    m = Message(data={"text": text, "intent": {"name": "faq_depth", "confidence": 0.57},
                      "entities": ents})
    IntentCorrector().process([m])
    assert m.get("intent")["name"] == "inform"


@pytest.mark.parametrize("text, expected", [
    # a switch names the medicine taken now ("... switched me to Eliquis last spring")
    ("I was on warfarin before, then the cardiologist switched me to Xarelto in March",
     {"facts": {"anticoagulant": True}}),
    # one disease of a group denied leaves the group asked
    ("vitiligo no. lupus no.", {"facts": {"vitiligo": False}}),
    # bumps that stay, or keep coming, weeks after a session
    ("two weeks on and the bumps on my chin haven't gone, they're itchy and firm",
     {"red_flags": ["new_lumps"]}),
    # a lip flip is Botox, not a lip to treat
    ("had a lip flip three weeks ago, now I want to do my nose",
     {"recent_procedures": {"botox": 21.0}, "areas": ["nose"]}),
    # someone else's place
    ("my sister wants one for her neck but I want it for my forehead",
     {"areas": ["forehead"]}),
    ("hi, my mum is after a roller for her jaw, I'd do my cheeks",
     {"areas": ["cheeks"], "device": {"type": "roller"}}),
    # a place taken back later in the same message
    ("I said cheeks earlier but I meant my neck, my cheeks are fine",
     {"areas": ["neck"]}),
    # "the rest of my face" leaves out the place of a condition
    ("there's a basal cell on my nose being removed soon, can I do the rest of my face?",
     {"facts": {"skin_cancer": True}, "areas": ["forehead", "cheeks", "chin_jaw"]}),
    # a tingle is where a cold sore starts, not a treatment area
    ("I get cold sores, my lip is tingling today, I wanted to stamp my forehead",
     {"facts": {"cold_sore_history": True}, "areas": ["forehead"], "device": {"type": "stamp"}}),
])
def test_found_on_blind_set_8(nlp, text, expected):
    """Found on blind set 8 (measured first, then read): each once pointed toward home use."""
    update = facts_from_message(entities(nlp, text), intent="inform", text=text)
    for key, value in expected.items():
        got = update[key]
        if key == "facts":
            got = {k: v for k, v in got.items() if k in value or v is True}
        assert got == value, (key, got)
    if "areas" not in expected:
        assert update["areas"] == []


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], None, "abc", "nan", "1e400"])
@pytest.mark.parametrize("kind", ["fact", "age", "needle_mm", "area", "concern", "procedure"])
def test_a_button_payload_with_a_strange_value_says_nothing(kind, value):
    """Found by the hardening probe: `/inform{"age": {...}}` crashed the action."""
    update = facts_from_message([{"entity": kind, "value": value}], intent="inform", text="x")
    assert to_contract(update) == to_contract(facts_from_message([], intent="inform", text="x"))


@pytest.mark.parametrize("text, question, expected, unknown", [
    # a doubt said with "never found out" is a doubt, not a no
    ("no idea, I never wear earrings so I've never found out if nickel bothers me", "history",
     {}, ["metal_allergy"]),
    # a medicine that is none of the facts leaves a plain "none"
    ("None of that. I take a statin for cholesterol and that's it.", "health",
     {"pregnant": False, "anticoagulant": False, "diabetes": False}, []),
    # "post-accutane" is after it
    ("post-accutane, left with boxcar scars on my cheeks", None,
     {"isotretinoin_current": False, "isotretinoin_ever": True}, []),
])
def test_found_on_blind_set_9(nlp, text, question, expected, unknown):
    """Found on blind set 9 (measured first, then read)."""
    from actions.dialogue.state import QUESTIONS
    ents = entities(nlp, text)
    update = facts_from_message(
        ents, intent="inform", text=text, question=question,
        unknown_items=list(QUESTIONS[question]["items"]) if question else [],
        rest_false=any(e.get("entity") == "rest_false" for e in ents))
    assert {k: v for k, v in update["facts"].items() if k in expected} == expected
    assert update["unclear"] is False
    assert set(unknown) <= set(update["unknown_facts"])


@pytest.mark.parametrize("text, age, skin_type", [
    ("18, turned 18 in october", 18, None),
    ("sometimes I burn in the first days, then I become tanned", None, 3),
])
def test_an_age_turned_and_a_skin_that_becomes_tanned(nlp, text, age, skin_type):
    got = understand(nlp, text)
    assert got["age"] == age and got["skin_type"] == skin_type


@pytest.mark.parametrize("text, facts, red_flags", [
    ("I spent forty years nursing, so I know sterile technique. 0.5 roller on my cheeks", {}, []),
    ("I do get the odd cold sore on my lip, nothing at the moment", {"cold_sore_history": True}, []),
    ("my cheeks flush a lot and have little red veins, I've never had it checked", {}, []),
    ("a little growth by my ear, never had anyone look at it", {"suspicious_lesion": True}, []),
    ("big watery busters on my cheeks since I rolled yesterday", {}, ["blisters"]),
    ("I've pressed on it for half an hour and it won't stop", {}, ["persistent_bleeding"]),
    ("my nose is very red and the red go to the cheeks", {}, ["spreading_redness"]),
    ("5 weeks post-session: hard itchy red lumps on my forehead", {}, ["new_lumps"]),
])
def test_more_found_on_blind_set_9(nlp, text, facts, red_flags):
    """A career is not breastfeeding, the odd cold sore is a history, "never had it checked"
    names a growth only beside one, everyday words for blisters, bleeding and spreading
    redness, and "post-" binds one word only."""
    update = facts_from_message(entities(nlp, text), intent="inform", text=text)
    assert {k: v for k, v in update["facts"].items() if v is True} == facts
    assert update["red_flags"] == red_flags


@pytest.mark.parametrize("text,guess,expected", [
    ("can I talk to a real person please?", "bot_challenge", "request_human"),
    ("are you a real person?", "bot_challenge", "bot_challenge"),
    ("talk to me about depth", "out_of_scope", "out_of_scope"),
])
def test_asking_to_talk_to_a_person_is_a_request_for_one(text, guess, expected):
    """Found by CI after a retrain: "can I talk to a real person please?" was heard as "are you a
    real person?" and answered "I'm an automated assistant" instead of handing over."""
    from rasa.shared.nlu.training_data.message import Message
    from actions.nlu.components import IntentCorrector
    m = Message(data={"text": text, "intent": {"name": guess, "confidence": 0.6}, "entities": []})
    IntentCorrector().process([m])
    assert m.get("intent")["name"] == expected
