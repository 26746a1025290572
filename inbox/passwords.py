"""Password rules for staff accounts (the inbox's POST /api/admin/users, the first admin's
password from the environment; `python -m actions.storage create-user` should use them too):

- 12 to 256 characters;
- not a commonly used password, nor one with a few digits or symbols added to one
  (`Password123!`), nor a keyboard or alphabet run, nor one repeated character;
- not the username (nor containing it).

`password_problem(password, username)` returns the reason, or None when the password is
acceptable. The list below is short on purpose (the most used passwords of public breach
statistics and their obvious variants); length does most of the work.
"""
from __future__ import annotations

import re
from typing import Optional

MIN_LENGTH, MAX_LENGTH = 12, 256

COMMON = frozenset("""
123456 123456789 12345678 1234567890 12345 1234567 123123 111111 000000 654321 666666
121212 112233 123321 987654321 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx qwerty qwertyuiop
qwerty123 qwertz asdfgh asdfghjkl zxcvbnm azerty password passw0rd p@ssword p@ssw0rd
password1 passwort motdepasse contraseña senha wachtwoord letmein welcome welcome1
admin administrator root toor changeme default guest login master secret superman batman
iloveyou princess sunshine monkey dragon football baseball soccer hockey shadow michael
jennifer jordan hunter ranger buster charlie thomas tigger whatever trustno1 starwars
freedom access flower hello hellothere computer internet cheese summer winter spring autumn
abc123 abcdef abcdefg abcdefgh abcd1234 aa123456 qazwsx mustang harley pepper maggie ginger
daniel andrew joshua jessica ashley nicole michelle matthew killer cookie chocolate banana
pokemon naruto samsung google facebook linkedin microsoft apple orange purple lovely loveme
secret123 test test123 testing demo sample example nothing forever blessed jesus
microneedle microneedling triage inbox clinic doctor nurse agent support helpdesk
""".split())

RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm",
        "qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb")
LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s",
                      "5": "s", "7": "t"})


def _core(password: str) -> str:
    """The password without case, decoration at either end, and common letter swaps."""
    low = password.lower()
    trimmed = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", low)
    return (trimmed or low).translate(LEET)


def _is_run(text: str) -> bool:
    """'abcdefghijkl', '0123456789012', 'qwertyuiop...' and their reverses."""
    if len(text) < 4:
        return False
    for run in RUNS:
        doubled = run * 3
        if text in doubled or text[::-1] in doubled:
            return True
    return False


def password_problem(password: object, username: Optional[str] = None) -> Optional[str]:
    if not isinstance(password, str):
        return "the password must be a string"
    if len(password) < MIN_LENGTH or len(password) > MAX_LENGTH:
        return f"the password must be {MIN_LENGTH} to {MAX_LENGTH} characters"
    low = password.lower()
    if len(set(low)) <= 2:
        return "the password repeats one or two characters: choose a longer phrase"
    if _is_run(low):
        return "the password is a keyboard or alphabet run: choose a phrase of your own"
    core = _core(password)
    repeated = re.fullmatch(r"(.+?)\1+", core)
    if repeated and len(repeated.group(1)) <= 8:
        return "the password repeats a short piece: choose a phrase of your own"
    parts = [p for p in re.split(r"[\W\d_]+", low) if p]
    if low in COMMON or core in COMMON or (core and _is_run(core)) \
            or (parts and all(p.translate(LEET) in COMMON or _is_run(p) for p in parts)):
        return "this password is too common: choose a phrase of your own"
    if username and len(username) >= 3 and username.lower() in low:
        return "the password must not contain the username"
    return None
