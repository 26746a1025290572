"""python -m webchat: the customers' web chat on http://127.0.0.1:$WEBCHAT_PORT (default 5057).

Environment: RASA_URL (the Rasa server, default http://127.0.0.1:5005), RASA_PUBLIC_URL
(where browsers reach Rasa's socket.io; default RASA_URL), WEBCHAT_PORT. Needs the socket.io
client from npm: `cd webchat && npm ci` (once).
"""
import os
import sys
from typing import List, Optional

from .app import SOCKET_IO_JS, create_app


def main(argv: Optional[List[str]] = None) -> int:
    if not SOCKET_IO_JS.exists():
        print("webchat: the socket.io client is missing; run `npm ci` in webchat/ first",
              file=sys.stderr)
        return 2
    rasa_url = os.environ.get("RASA_URL") or "http://127.0.0.1:5005"
    public = os.environ.get("RASA_PUBLIC_URL") or rasa_url
    port = int(os.environ.get("WEBCHAT_PORT") or 5057)
    app = create_app(rasa_url, public)
    print(f"webchat: http://127.0.0.1:{port}/ (browsers connect to {public}/socket.io)",
          flush=True)
    app.run(host="127.0.0.1", port=port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
