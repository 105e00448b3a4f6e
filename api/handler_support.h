// What every handler shares: its dependencies, the access check, ids, and the one way a
// decision becomes an answer (decide under the team's lock, append, answer once durable).
// Thread-safety: api_deps is shared by all io threads; its members are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/api_keys.h"
#include "api/http_types.h"
#include "api/json_writer.h"
#include "api/jwt_auth.h"
#include "api/problem.h"
#include "api/request_body.h"
#include "consumers/ledger_gateway.h"
#include "projections/commands.h"
#include "schemas/pricing.h"

namespace tally::api {

class live_hub;

// The team of an agent or session id, for ids already folded (they never change team): most
// requests name one, and the lookup would otherwise take the owner's state lock a second time.
// Thread-safety: internally locked (its own small lock, never the state lock).
class team_index {
 public:
  std::optional<team_id> find(const std::string& key) const;
  void remember(const std::string& key, const team_id& team);

 private:
  static constexpr std::size_t max_entries = 1'000'000;  // then it starts over
  mutable std::mutex mu_;
  std::unordered_map<std::string, team_id> teams_;
};

struct api_deps {
  ledger_gateway* ledger = nullptr;
  std::shared_ptr<team_index> teams = std::make_shared<team_index>();
  const limit_policy* policy = nullptr;
  const pricing_table* pricing = nullptr;
  std::function<time_ms()> clock;  // wall clock in ms; tests pin it
  std::string source = "tally";    // CloudEvents source of the events decided here
  time_ms late_grace_ms = 7 * 86'400'000;
  time_ms future_skew_ms = 5 * 60'000;
  // Credentials: the registry the authenticator reads, the JWT settings tokens are issued with,
  // and how a key record is made durable (the control topic) before it is applied.
  key_registry* keys = nullptr;
  const jwt_config* jwt = nullptr;
  std::function<void(const api_key_record&, std::function<void(bool)>)> publish_key;
  // The webhook subscriptions and their delivery log; null: the endpoints answer 503.
  struct webhooks_api* webhooks = nullptr;
  // The live stream hub (GET /api/v1/stream); null: the route answers 503.
  live_hub* live = nullptr;
  // Where the built dashboard is (index.html, assets/); empty: GET / answers 404.
  std::string dashboard_dir;
};

enum class need { read, write, admin };
// Throws api_error 403 unless the caller may act on the team this way.
void require(const request_ctx& ctx, const team_id& team, need n);
// Throws api_error 403 unless the caller is an org-wide admin.
void require_org_admin(const request_ctx& ctx);

// A new random id with a prefix: "ses_3f9c...", 16 random bytes in hex.
std::string new_id(std::string_view prefix);
// The identity of the event a write creates: the Idempotency-Key header when given (a retried
// request is then one fact), else a fresh id.
event_id request_event_id(const request_ctx& ctx, std::string body_event_id = {});

// A path parameter that must be a valid id (404 when malformed: no such thing can exist).
std::string path_id(const request_ctx& ctx, std::string_view name);

// The body, parsed (api_error on malformed JSON).
request_body body_of(const request_ctx& ctx);

// The answer when the node may not decide for a team (another node owns it, or catching up).
http_response unavailable(team_access a);

// The problem answer of a refused command.
http_response refused(const command_decision& d);

// Decides under the team's lock; when the decision has events, appends them and answers with
// `answer` (built under the lock, so it reflects the decision) once they are durable, or 503
// when the append failed. A refusal is answered at once.
void run_command(api_deps& deps, const team_id& team, respond_fn respond,
                 const std::function<command_decision(live_view&)>& decide,
                 const std::function<http_response(live_view&, const command_decision&)>& answer);

// Reads under the team's lock.
void run_read(api_deps& deps, const team_id& team, respond_fn respond,
              const std::function<http_response(live_view&)>& read);

// The team of an agent / a session, or api_error 404.
team_id team_of_agent(api_deps& deps, const agent_id& a);
team_id team_of_session(api_deps& deps, const session_id& s);

// Writers shared by several answers.
void write_limits(json_writer& w, const limit_set& l);
void write_session(json_writer& w, live_view& live, const team_id& team, const session_id& id,
                   const session_record& s, time_ms now);

}  // namespace tally::api
