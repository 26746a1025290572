#!/usr/bin/env bash
# Sets everything up, then runs the assistant: database migrations, the action server, the Rasa
# server (REST and socket.io channels, HTTP API protected by a token), the agents' inbox and
# the web chat.
# Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/train.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
: "${RASA_HOST:=127.0.0.1}" "${RASA_PORT:=5005}" "${INBOX_PORT:=5056}" "${WEBCHAT_PORT:=5057}"
: "${ACTION_PORT:=5055}"  # endpoints.yml names 5055; another port gets its own copy below
case "$ACTION_PORT" in ''|*[!0-9]*) echo "error: ACTION_PORT must be a port number" >&2; exit 2 ;; esac
# The pages allowed to open the web chat's socket.io connection (their Origin header is
# checked; actions/channels.py): by default the demo web chat's own. A shop embedding the
# widget adds its site's origin, e.g. WEBCHAT_ORIGINS="https://shop.example.com". Rasa's HTTP
# API sends no CORS headers at all: the widget only needs socket.io.
: "${WEBCHAT_ORIGINS:=http://127.0.0.1:${WEBCHAT_PORT} http://localhost:${WEBCHAT_PORT}}"
export WEBCHAT_ORIGINS
: "${RASA_TOKEN:=local-dev-token}"   # local default; set RASA_TOKEN in .env for anything else
export RASA_TOKEN INBOX_PORT WEBCHAT_PORT RASA_URL="${RASA_URL:-http://${RASA_HOST}:${RASA_PORT}}"
# The action server listens on ACTION_SERVER_HOST (default loopback); endpoints.yml makes Rasa
# send ACTION_SERVER_TOKEN (empty: no check), so it must be set, even empty.
export ACTION_SERVER_TOKEN="${ACTION_SERVER_TOKEN:-}"
case "${ACTION_SERVER_HOST:-127.0.0.1}" in
  0.0.0.0|::) ACTION_CHECK_HOST=127.0.0.1 ;;
  *:*) ACTION_CHECK_HOST="[${ACTION_SERVER_HOST}]" ;;
  *) ACTION_CHECK_HOST="${ACTION_SERVER_HOST:-127.0.0.1}" ;;
esac
.venv/bin/python -m actions.storage migrate
ENDPOINTS=endpoints.yml
if [ "$ACTION_PORT" != 5055 ]; then  # Rasa must call the action server where it listens
  mkdir -p var
  ENDPOINTS="var/endpoints.${ACTION_PORT}.yml"
  sed "s#^\(  url: http://127\.0\.0\.1:\)5055/webhook#\1${ACTION_PORT}/webhook#" endpoints.yml > "$ENDPOINTS"
  grep -q "^  url: http://127\.0\.0\.1:${ACTION_PORT}/webhook" "$ENDPOINTS" \
    || { echo "error: endpoints.yml has no action server URL on port 5055 to move to ${ACTION_PORT}" >&2; exit 2; }
fi

pids=()
stop() { trap - INT TERM EXIT; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop INT TERM EXIT

.venv/bin/python -m actions.action_server --port "$ACTION_PORT" &
pids+=($!)
.venv/bin/rasa run --enable-api --auth-token "$RASA_TOKEN" -i "$RASA_HOST" -p "$RASA_PORT" \
  --credentials credentials.yml --endpoints "$ENDPOINTS" --model models &
pids+=($!)
.venv/bin/python -m inbox &
pids+=($!)
.venv/bin/python -m webchat &
pids+=($!)

echo "Waiting for the servers..."
for _ in $(seq 1 120); do
  if curl -fs "http://${ACTION_CHECK_HOST}:${ACTION_PORT}/health" >/dev/null 2>&1 \
     && curl -fs "http://${RASA_HOST}:${RASA_PORT}/status?token=${RASA_TOKEN}" >/dev/null 2>&1 \
     && curl -fs "http://127.0.0.1:${INBOX_PORT}/health" >/dev/null 2>&1 \
     && curl -fs "http://127.0.0.1:${WEBCHAT_PORT}/health" >/dev/null 2>&1; then
    cat <<MSG

The assistant is running.
  Web chat:  http://127.0.0.1:${WEBCHAT_PORT}/  (a demo shop page with the chat widget)
  REST:      curl -s http://${RASA_HOST}:${RASA_PORT}/webhooks/rest/webhook -d '{"sender":"me","message":"hi"}'
  socket.io: http://${RASA_HOST}:${RASA_PORT}/socket.io
  HTTP API:  http://${RASA_HOST}:${RASA_PORT}/status?token=${RASA_TOKEN}
  Actions:   http://${ACTION_CHECK_HOST}:${ACTION_PORT}/health
  Inbox:     http://127.0.0.1:${INBOX_PORT}/  (support agents and clinics; first login: admin, with the password the inbox printed above on its first start)
  Shell:     ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:+<yours>} .venv/bin/rasa shell --endpoints ${ENDPOINTS} (in another terminal)
  Web chat origins allowed: ${WEBCHAT_ORIGINS}
Press Ctrl-C to stop.
MSG
    wait -n "${pids[@]}"
    exit $?
  fi
  sleep 1
done
echo "error: the servers did not start within 120 s" >&2
exit 1
