#!/usr/bin/env bash
# The README's first command as a newcomer types it: a fresh clone, a clean environment,
# `make run`, one page and one question. Any failing step fails CI.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/helpdesk-smoke.XXXXXX)"
server_pid=""

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM -- "-$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'smoke: %s\n' "$*"; }
fail() {
    say "FAILED: $*"
    [ -f "$work/run.log" ] && { say "last lines of make run:"; tail -n 40 "$work/run.log"; }
    exit 1
}

git clone --quiet "$repo" "$work/helpdesk"
say "cloned $(git -C "$work/helpdesk" rev-parse --short HEAD) into $work/helpdesk"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

# Its own process group, so the server and everything make started stop together.
(cd "$work/helpdesk" && exec env -u SECRET_KEY -u DEBUG -u DATABASE_URL -u REDIS_URL \
    setsid make run "HOST=127.0.0.1:$port") >"$work/run.log" 2>&1 &
server_pid=$!
say "make run HOST=127.0.0.1:$port (SECRET_KEY, DEBUG, DATABASE_URL, REDIS_URL unset), pid $server_pid"

started=$SECONDS
until curl -fsS -o /dev/null "$base/" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || fail "make run exited before serving"
    [ $((SECONDS - started)) -lt 600 ] || fail "nothing served on $base after 600 s"
    sleep 1
done
say "GET / answered 200 after $((SECONDS - started)) s"

jar="$work/cookies"
curl -fsS -c "$jar" -o /dev/null "$base/clients/" || fail "GET /clients/ failed"
token="$(awk '$6 == "csrftoken" {print $7}' "$jar")"
[ -n "$token" ] || fail "no csrftoken cookie set by the page"

status="$(curl -sS -b "$jar" -o "$work/answer.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "X-CSRFToken: $token" -H "Referer: $base/clients/" \
    --data '{"question": "How do I add a new customer?", "path": "/clients/", "hints": "Clients"}' \
    "$base/assistant/api/help/")" || fail "POST /assistant/api/help/ failed"
[ "$status" = 200 ] || fail "POST /assistant/api/help/ answered $status: $(head -c 300 "$work/answer.json")"
python3 - "$work/answer.json" <<'EOF' || fail "the answer is not what a reader needs"
import json, sys
body = json.load(open(sys.argv[1]))
assert body["answer"].strip(), body
assert body["sources"], body
print(f"smoke: answered by {body['backend']} in {body['latency_ms']} ms: {body['answer'][:80]!r}")
EOF
curl -sS -b "$jar" -o "$work/stream.txt" -N \
    -H 'Content-Type: application/json' -H "X-CSRFToken: $token" -H "Referer: $base/clients/" \
    --data '{"question": "How do I export invoices?", "path": "/invoices/"}' \
    "$base/assistant/api/help/stream/" || fail "POST /assistant/api/help/stream/ failed"
python3 - "$work/stream.txt" <<'EOF' || fail "the stream is not meta, token…, done"
import sys
kinds = [line[7:].strip() for line in open(sys.argv[1]) if line.startswith("event: ")]
assert kinds[0] == "meta" and kinds[-1] == "done" and "token" in kinds, kinds
print(f"smoke: stream events {kinds}")
EOF
curl -fsS -o /dev/null "$base/static/assistant/widget.js" || fail "the widget's script is not served"
grep -q "manage.py createsuperuser" "$work/run.log" || fail "make run does not say how to create an admin"
say "ok: make run serves pages, static files, answers and streams on a fresh clone"

# The README's next commands, as written, from another terminal: nothing exported (the
# superuser's password is createsuperuser's own --noinput variable, not a setting).
in_clone() {
    (cd "$work/helpdesk" && env -u SECRET_KEY -u DEBUG -u DATABASE_URL -u REDIS_URL "$@")
}
in_clone DJANGO_SUPERUSER_PASSWORD=smoke-admin-5811 .venv/bin/python manage.py createsuperuser \
    --noinput --username admin --email admin@example.com >"$work/cmd.log" 2>&1 \
    || { cat "$work/cmd.log"; fail "manage.py createsuperuser, as the README shows it"; }
in_clone .venv/bin/python manage.py import_docs docs/ >"$work/cmd.log" 2>&1 \
    || { cat "$work/cmd.log"; fail "manage.py import_docs docs/, as the README shows it"; }
say "import_docs docs/: $(grep -E '^[0-9]+ created' "$work/cmd.log")"
say "ok: manage.py createsuperuser and import_docs work in another terminal, nothing exported"

stop_server() {
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
    server_pid=""
}

# Your help centre in one command: make run DOCS=path imports it instead of the demo docs.
stop_server
! curl -fsS -o /dev/null "$base/" 2>/dev/null || fail "the first make run still serves"
(cd "$work/helpdesk" && exec env -u SECRET_KEY -u DEBUG -u DATABASE_URL -u REDIS_URL \
    setsid make run "HOST=127.0.0.1:$port" DOCS=docs) >"$work/run.log" 2>&1 &
server_pid=$!
started=$SECONDS
until curl -fsS -o /dev/null "$base/" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || fail "make run DOCS=docs exited before serving"
    [ $((SECONDS - started)) -lt 300 ] || fail "nothing served on $base after 300 s"
    sleep 1
done
say "make run DOCS=docs served after $((SECONDS - started)) s"
status="$(curl -sS -o /dev/null -w '%{http_code}' "$base/assistant/docs/create-invoice/")"
[ "$status" = 404 ] || fail "a demo doc is still served after make run DOCS=docs ($status)"
status="$(curl -sS -b "$jar" -o "$work/answer.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "X-CSRFToken: $token" -H "Referer: $base/" \
    --data '{"question": "How do I add the assistant to my Django site?", "path": "/"}' \
    "$base/assistant/api/help/")"
[ "$status" = 200 ] || fail "the question answered $status: $(head -c 300 "$work/answer.json")"
python3 - "$work/answer.json" <<'EOF' || fail "the answer is not from the imported docs"
import json, sys
body = json.load(open(sys.argv[1]))
urls = [s["url"] for s in body["sources"]]
assert body["covered"] and urls and urls[0].startswith("/assistant/docs/integration/"), body
print(f"smoke: answered from {urls[0]} by {body['backend']}")
EOF
kill -0 "$server_pid" 2>/dev/null || fail "make run DOCS=docs is not the server that answered"
say "ok: make run DOCS=docs answers from that help centre, the demo docs replaced"
