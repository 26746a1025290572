"""python -m inbox: the support agents' inbox on http://127.0.0.1:$INBOX_PORT (default 5056).

Environment: DATABASE_URL (the project's database, see actions.storage), RASA_URL (default
http://127.0.0.1:5005), RASA_TOKEN (Rasa's HTTP API token, default local-dev-token),
INBOX_PORT, INBOX_SECRET (signs session cookies; random by default, so sessions end with
the process), INBOX_COOKIE_SECURE=1 behind HTTPS. On the first start with no staff account
an `admin` user is created with INBOX_ADMIN_TOKEN / INBOX_ADMIN_PASSWORD (defaults for local
use only: admin-dev-token / admin). More accounts: POST /api/admin/users, or
`python -m actions.storage create-user NAME ROLE --password ... [--clinic ID]`.
"""
import os
import sys
from typing import List, Optional

from actions.storage import Store, database_url

from .app import create_app

DEFAULT_ADMIN_TOKEN = "admin-dev-token"
DEFAULT_ADMIN_PASSWORD = "admin"


def ensure_admin(store: Store) -> Optional[str]:
    """Creates the first admin when there is no staff account; returns what to print."""
    if store.users():
        return None
    token = os.environ.get("INBOX_ADMIN_TOKEN") or DEFAULT_ADMIN_TOKEN
    password = os.environ.get("INBOX_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD
    store.create_user("admin", "admin", "Administrator", password, None, token)
    shown_token = ("from INBOX_ADMIN_TOKEN" if os.environ.get("INBOX_ADMIN_TOKEN")
                   else f"{token} (local default: set INBOX_ADMIN_TOKEN)")
    shown_password = ("from INBOX_ADMIN_PASSWORD" if os.environ.get("INBOX_ADMIN_PASSWORD")
                      else f"{password} (local default: set INBOX_ADMIN_PASSWORD)")
    return (f"inbox: created the first staff account 'admin' (role admin); "
            f"API token {shown_token}; password {shown_password}")


def main(argv: Optional[List[str]] = None) -> int:
    store = Store(database_url())
    store.migrate()
    created = ensure_admin(store)
    if created:
        print(created, flush=True)
    port = int(os.environ.get("INBOX_PORT") or 5056)
    app = create_app(store, os.environ.get("RASA_URL") or "http://127.0.0.1:5005",
                     os.environ.get("RASA_TOKEN") or "local-dev-token")
    print(f"inbox: http://127.0.0.1:{port}/ (database {store.url.split('@')[-1]})", flush=True)
    app.run(host="127.0.0.1", port=port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
