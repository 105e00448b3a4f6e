#!/usr/bin/env bash
# The Entourage cost-control guide's own curl calls (seeds/000), run against the real
# `tally serve` on the real broker, with the API key header the guide's auth section asks for.
# Usage: guide_curl.sh PATH/TO/tally   (broker: $TALLY_TEST_BROKERS, else a fresh local one)
set -euo pipefail
tally="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/tally-guide-curl.XXXXXX)"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [[ -n "${started_broker:-}" ]]; then KAFKA_DATA_DIR="$work/kafka" "$root/deploy/kafka/local" stop || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "guide_curl: FAILED: $*" >&2; echo "--- tally log ---" >&2; tail -n 30 "$work/tally.log" >&2; exit 1; }

brokers="${TALLY_TEST_BROKERS:-}"
if [[ -z "$brokers" ]]; then
  started_broker=1
  brokers="$(KAFKA_DATA_DIR="$work/kafka" "$root/deploy/kafka/local" start | tail -n 1)"
fi
key="tly_guide_curl_admin_key_0123456789abcdef"
prefix="guide-$$-$RANDOM."
TALLY_ADMIN_KEY="$key" "$tally" serve --brokers "$brokers" --data-dir "$work/data" \
  --topic-prefix "$prefix" --group "$prefix" --listen 127.0.0.1:0 >"$work/tally.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
  port="$(sed -n 's/^tally listening on port \([0-9]*\)$/\1/p' "$work/tally.log")"
  [[ -n "$port" ]] && curl -sf "http://localhost:$port/readyz" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || fail "tally exited"
  sleep 0.1
done
curl -sf "http://localhost:$port/readyz" >/dev/null || fail "tally never became ready"

# json FILE EXPR: evaluates a Python expression over the parsed JSON `j`; fails when false.
check() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" || fail "$2 on $(cat "$1")"
}
out="$work/out.json"
# Set-up the guide takes for granted: a team and its agent.
curl -sf -X POST "http://localhost:$port/api/v1/teams" -H "X-API-Key: $key" \
  -H "Content-Type: application/json" -d '{"id": "acme", "name": "Acme"}' >/dev/null || fail "team"
curl -sf -X POST "http://localhost:$port/api/v1/teams/acme/agents" -H "X-API-Key: $key" \
  -H "Content-Type: application/json" -d '{"id": "eng-1", "name": "eng-1"}' >/dev/null || fail "agent"
agent_id=eng-1
team_id=acme

# ---- the guide, verbatim but for the port and the placeholders ----
curl -X POST http://localhost:$port/api/v1/teams/$team_id/tasks \
  -H "Content-Type: application/json" \
  -H "X-API-Key: $key" \
  -d '{
    "title": "Fix typo in README",
    "priority": "low",
    "task_type": "bugfix",
    "tags": ["budget:0.50"]
  }' -sf -o "$out" || fail "create task"
check "$out" 'j["id"] == "1" and j["budget_usd"] == 0.5'

curl -X POST http://localhost:$port/api/v1/agents/$agent_id/sessions \
  -H "Content-Type: application/json" \
  -H "X-API-Key: $key" \
  -d '{
    "task_id": 1,
    "model": "claude-sonnet-4-20250514"
  }' -sf -o "$out" || fail "open session"
check "$out" 'j["status"] == "active" and j["task_id"] == "1"'
session_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$out")"

curl -X POST http://localhost:$port/api/v1/sessions/$session_id/usage \
  -H "Content-Type: application/json" \
  -H "X-API-Key: $key" \
  -d '{
    "input_tokens": 2500,
    "output_tokens": 800,
    "cost_usd": 0.012
  }' -sf -o "$out" || fail "usage"
check "$out" 'j["cost_nanos"] == 12000000 and j["action"] == "continue"'

curl http://localhost:$port/api/v1/agents/$agent_id/budget -H "X-API-Key: $key" -sf -o "$out" || fail "budget"
check "$out" 'all(k in j for k in ["daily_limit_usd","daily_spent_usd","daily_remaining_usd","task_limit_usd","task_spent_usd","over_budget"])'
check "$out" 'j["task_limit_usd"] == 0.5 and j["task_spent_usd"] == 0.012 and j["over_budget"] is False'

curl -X PATCH http://localhost:$port/api/v1/settings/teams/$team_id \
  -H "Content-Type: application/json" \
  -H "X-API-Key: $key" \
  -d '{"daily_cost_limit_usd": 10.00}' -sf -o "$out" || fail "team limit"
check "$out" 'j["daily_cost_limit_nanos"] == 10000000000'

curl http://localhost:$port/api/v1/agents/$agent_id/budget -H "X-API-Key: $key" -sf -o "$out" || fail "budget"
check "$out" 'j["daily_limit_usd"] == 10 and j["daily_spent_usd"] == 0.012 and j["daily_remaining_usd"] == 9.988'

curl http://localhost:$port/api/v1/teams/$team_id/costs -H "X-API-Key: $key" -sf -o "$out" || fail "costs"
check "$out" 'j["total_cost_usd"] == 0.012 and j["total_input_tokens"] == 2500 and j["total_output_tokens"] == 800'
check "$out" 'j["sessions"][0]["agent_name"] == "eng-1" and j["sessions"][0]["task_title"] == "Fix typo in README" and j["sessions"][0]["tokens"] == 3300 and "duration_minutes" in j["sessions"][0]'

curl http://localhost:$port/api/v1/agents/$agent_id/sessions -H "X-API-Key: $key" -sf -o "$out" || fail "sessions"
check "$out" 'len(j["sessions"]) == 1 and j["sessions"][0]["cost_usd"] == 0.012'

curl -X POST http://localhost:$port/api/v1/sessions/$session_id/end \
  -H "X-API-Key: $key" -sf -o "$out" || fail "end"
check "$out" 'j["status"] == "completed"'

# The older form of the guide (seeds/002): agent_id in the body.
curl -X POST http://localhost:$port/api/v1/sessions/start \
  -H "Content-Type: application/json" \
  -H "X-API-Key: $key" \
  -d '{
    "agent_id": "'$agent_id'",
    "task_id": 594,
    "model": "claude-sonnet-4-20250514"
  }' -sf -o "$out" || fail "sessions/start"
check "$out" 'j["agent_id"] == "eng-1" and j["task_id"] == "594"'

# Without the key header, as the guide's examples predate auth: 401 with a problem body.
code="$(curl -s -o "$out" -w '%{http_code}' http://localhost:$port/api/v1/agents/$agent_id/budget)"
[[ "$code" == 401 ]] || fail "expected 401 without a key, got $code"
check "$out" 'j["status"] == 401'
echo "guide_curl: every call of the guide answered as documented"
