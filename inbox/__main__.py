"""python -m inbox: the support agents' inbox on http://$INBOX_HOST:$INBOX_PORT (default
127.0.0.1:5056).

Environment: DATABASE_URL (the project's database, see actions.storage), RASA_URL (default
http://127.0.0.1:5005), RASA_TOKEN (Rasa's HTTP API token, default local-dev-token on
loopback only), INBOX_HOST (default 127.0.0.1), INBOX_PORT, INBOX_SECRET (signs session
cookies; random by default, so sessions end with the process), AUDIT_KEY (keys the hash
naming conversations in the audit log; default: a random key kept in var/audit.key),
INBOX_COOKIE_SECURE=1 behind HTTPS.

On the first start with no staff account an `admin` user is created with INBOX_ADMIN_TOKEN /
INBOX_ADMIN_PASSWORD, or, when they are not set, with a random token and password that are
printed once. More accounts: POST /api/admin/users, or
`python -m actions.storage create-user NAME ROLE --password ... [--clinic ID]`.

Default secrets (RASA_TOKEN local-dev-token, the formerly documented admin-dev-token / admin,
or an `admin` account that still has them) are accepted on a loopback address only: bound to
any other address the inbox refuses to start and says which setting to change.
"""
import ipaddress
import os
import secrets
import sys
from typing import List, Optional, Tuple

from actions.storage import Store, database_url

from .app import create_app
from .ids import audit_key
from .passwords import password_problem

DEFAULT_RASA_TOKEN = "local-dev-token"
KNOWN_ADMIN_TOKENS = ("admin-dev-token",)
KNOWN_ADMIN_PASSWORDS = ("admin",)


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_admin(store: Store) -> Optional[str]:
    """Creates the first admin when there is no staff account; returns what to print (a
    generated password and token are shown this once)."""
    if store.users():
        return None
    token = os.environ.get("INBOX_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    password = os.environ.get("INBOX_ADMIN_PASSWORD") or secrets.token_urlsafe(15)
    store.create_user("admin", "admin", "Administrator", password, None, token)
    shown_token = ("from INBOX_ADMIN_TOKEN" if os.environ.get("INBOX_ADMIN_TOKEN")
                   else f"{token} (generated, shown once)")
    shown_password = ("from INBOX_ADMIN_PASSWORD" if os.environ.get("INBOX_ADMIN_PASSWORD")
                      else f"{password} (generated, shown once)")
    return (f"inbox: created the first staff account 'admin' (role admin); "
            f"password {shown_password}; API token {shown_token}")


def default_secrets(store: Store) -> List[Tuple[str, str]]:
    """(setting, why) for every default or weak secret in use."""
    found = []
    if (os.environ.get("RASA_TOKEN") or DEFAULT_RASA_TOKEN) == DEFAULT_RASA_TOKEN:
        found.append(("RASA_TOKEN", "is the local default"))
    if os.environ.get("INBOX_ADMIN_TOKEN") in KNOWN_ADMIN_TOKENS:
        found.append(("INBOX_ADMIN_TOKEN", "is a documented default"))
    password = os.environ.get("INBOX_ADMIN_PASSWORD")
    if password and (password in KNOWN_ADMIN_PASSWORDS or password_problem(password, "admin")):
        found.append(("INBOX_ADMIN_PASSWORD", password_problem(password, "admin")
                      or "is a documented default"))
    secret = os.environ.get("INBOX_SECRET")
    if secret is not None and secret != "" and len(secret) < 16:
        found.append(("INBOX_SECRET", "is shorter than 16 characters"))
    if any(store.user_by_token(t) for t in KNOWN_ADMIN_TOKENS):
        found.append(("the API token of a staff account", "is a documented default "
                      "(admin-dev-token): give the account a new one"))
    admin = store.user("admin")
    if admin is not None and any(store.user_by_password("admin", p)
                                 for p in KNOWN_ADMIN_PASSWORDS):
        found.append(("the password of the 'admin' account", "is the documented default "
                      "(admin): change it"))
    return found


def main(argv: Optional[List[str]] = None) -> int:
    store = Store(database_url())
    store.migrate()
    host = os.environ.get("INBOX_HOST") or "127.0.0.1"
    port = int(os.environ.get("INBOX_PORT") or 5056)
    weak = default_secrets(store)
    if weak and not is_loopback(host):
        for setting, why in weak:
            print(f"inbox: refusing to listen on {host}: {setting} {why}", file=sys.stderr)
        print("inbox: set real secrets (see .env.example), or listen on 127.0.0.1 only",
              file=sys.stderr, flush=True)
        return 2
    for setting, why in weak:
        if setting != "RASA_TOKEN":  # the zero-configuration local run uses that one
            print(f"inbox: warning: {setting} {why} (accepted on loopback only)", flush=True)
    created = ensure_admin(store)
    if created:
        print(created, flush=True)
    app = create_app(store, os.environ.get("RASA_URL") or "http://127.0.0.1:5005",
                     os.environ.get("RASA_TOKEN") or DEFAULT_RASA_TOKEN,
                     audit_key=audit_key())
    shown = f"[{host}]" if ":" in host else host
    print(f"inbox: http://{shown}:{port}/ (database {store.url.split('@')[-1]})", flush=True)
    app.run(host=host, port=port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
