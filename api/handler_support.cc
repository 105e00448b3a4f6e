#include "api/handler_support.h"

#include <mutex>

#include <openssl/rand.h>

#include "api/authn.h"
#include "projections/slots.h"

namespace tally::api {

void require(const request_ctx& ctx, const team_id& team, need n) {
  const access a = n == need::read    ? access::read
                   : n == need::write ? access::write
                                      : access::admin;
  if (auto denied = authorize(ctx.caller, team.str(), a)) {
    throw api_error(denied->result(), "forbidden", "this credential may not do that here");
  }
}

void require_org_admin(const request_ctx& ctx) {
  if (!ctx.caller.org_wide()) {
    throw api_error(http::status::forbidden, "forbidden", "this needs an org-wide admin key");
  }
}

std::string new_id(std::string_view prefix) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness");
  static const char* hex = "0123456789abcdef";
  std::string out(prefix);
  for (unsigned char b : bytes) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

event_id request_event_id(const request_ctx& ctx, std::string body_event_id) {
  std::string id = std::move(body_event_id);
  if (id.empty()) id = std::string(ctx.req["Idempotency-Key"]);
  if (id.empty()) return event_id{new_id("api-")};
  if (!valid_id(id)) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "event_id / Idempotency-Key must be 1-200 printable characters without '/'");
  }
  return event_id{std::move(id)};
}

std::string path_id(const request_ctx& ctx, std::string_view name) {
  auto v = ctx.path.get(name);
  if (!v || !valid_id(*v)) {
    throw api_error(http::status::not_found, "not_found", "no such " + std::string(name));
  }
  return std::string(*v);
}

request_body body_of(const request_ctx& ctx) {
  return request_body::parse(ctx.req.body());
}

http_response unavailable(team_access a) {
  auto res = a == team_access::not_owner
                 ? problem(http::status::service_unavailable, "not_owner",
                           "Another node owns this team", "send the request to the team's owner")
                 : problem(http::status::service_unavailable, "catching_up",
                           "Catching up with the ledger", "retry in a moment");
  res.set(http::field::retry_after, "1");
  return res;
}

http_response refused(const command_decision& d) {
  switch (d.refused) {
    case refusal::invalid:
      return problem(http::status::unprocessable_entity, d.code, "Invalid request", d.detail);
    case refusal::not_found:
      return problem(http::status::not_found, d.code, "Not found", d.detail);
    case refusal::conflict:
      return problem(http::status::conflict, d.code, "Conflict", d.detail);
    case refusal::over_budget: {
      boost::json::object extras;
      if (d.limit) {
        extras["scope"] = d.limit->scope;
        extras["window"] = d.limit->window;
        extras["metric"] = d.limit->metric;
        extras["limit"] = d.limit->limit;
        extras["spent"] = d.limit->spent;
        if (d.limit->metric == "cost") extras["reserved"] = d.limit->reserved;
        if (d.limit->resets_at) extras["resets_at"] = format_rfc3339(d.limit->resets_at);
      }
      return problem(http::status::payment_required, d.code, "Budget exhausted", d.detail,
                     std::move(extras));
    }
    case refusal::none:
      break;
  }
  return problem(http::status::internal_server_error, "internal", "Internal error", "");
}

void run_command(api_deps& deps, const team_id& team, respond_fn respond,
                 const std::function<command_decision(live_view&)>& decide,
                 const std::function<http_response(live_view&, const command_decision&)>& answer) {
  std::optional<http_response> now;  // answered at once: refusals, nothing to append
  auto shared = std::make_shared<respond_fn>(std::move(respond));
  auto a = deps.ledger->with_team(team, [&](live_view& live) {
    auto d = decide(live);
    if (d.refused != refusal::none) {
      now = refused(d);
      return;
    }
    if (d.events.empty()) {
      now = answer(live, d);
      return;
    }
    // The event's identity was used before (an Idempotency-Key retried with a request that
    // decides differently now): its original answer is not kept for entity commands, so say
    // so rather than answer as if this one had been applied.
    if (live.seen(event_team(d.events[0]), d.events[0].id)) {
      now = problem(http::status::conflict, "idempotency_key_reused", "Already applied",
                    "a request with this Idempotency-Key was applied before");
      return;
    }
    // The answer is built against the live view with the events added, so it shows their
    // effect; it is sent when both it and the delivery are there, whichever comes last.
    struct completion {
      std::mutex m;
      std::optional<http_response> answer;
      std::optional<bool> delivered;
    };
    auto c = std::make_shared<completion>();
    auto send = [shared](completion& c) {
      if (*c.delivered) {
        (*shared)(std::move(*c.answer));
      } else {
        (*shared)(problem(http::status::service_unavailable, "append_failed",
                          "The ledger did not take the event", "retry with the same key"));
      }
    };
    deps.ledger->append(team, d.events, [c, send](bool ok) {
      std::unique_lock lock(c->m);
      c->delivered = ok;
      if (c->answer) {
        lock.unlock();
        send(*c);
      }
    });
    auto res = answer(live, d);
    std::unique_lock lock(c->m);
    c->answer = std::move(res);
    if (c->delivered) {
      lock.unlock();
      send(*c);
    }
  });
  if (a != team_access::ok) now = unavailable(a);
  if (now) (*shared)(std::move(*now));
}

void run_read(api_deps& deps, const team_id& team, respond_fn respond,
              const std::function<http_response(live_view&)>& read) {
  std::optional<http_response> res;
  auto a = deps.ledger->with_team(team, [&](live_view& live) { res = read(live); });
  respond(a == team_access::ok ? std::move(*res) : unavailable(a));
}

std::optional<team_id> team_index::find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = teams_.find(key);
  if (it == teams_.end()) return std::nullopt;
  return it->second;
}

void team_index::remember(const std::string& key, const team_id& team) {
  std::lock_guard lock(mu_);
  if (teams_.size() >= max_entries) teams_.clear();
  teams_.emplace(key, team);
}

team_id team_of_agent(api_deps& deps, const agent_id& a) {
  const std::string key = "a/" + a.str();
  if (auto t = deps.teams->find(key)) return *t;
  std::optional<team_id> t;
  bool folded = false;
  deps.ledger->with_state([&](live_view& live) {
    t = live.agent_team(a);
    folded = t && live.state().agent(a).has_value();
  });
  if (!t) throw api_error(http::status::not_found, "agent_not_found", "no agent " + a.str());
  if (folded) deps.teams->remember(key, *t);
  return *t;
}

team_id team_of_session(api_deps& deps, const session_id& s) {
  const std::string key = "s/" + s.str();
  if (auto t = deps.teams->find(key)) return *t;
  std::optional<team_id> t;
  bool folded = false;
  deps.ledger->with_state([&](live_view& live) {
    t = live.session_team(s);
    folded = t && live.state().session_team(s).has_value();
  });
  if (!t) throw api_error(http::status::not_found, "session_not_found", "no session " + s.str());
  if (folded) deps.teams->remember(key, *t);
  return *t;
}

void write_limits(json_writer& w, const limit_set& l) {
  w.money("daily_cost_limit", l.cost_per_day);
  w.money("monthly_cost_limit", l.cost_per_month);
  w.money("max_cost_per_run", l.cost_per_run);
  auto opt = [&](std::string_view k, const std::optional<std::int64_t>& v) {
    if (v) {
      w.field(k, *v);
    } else {
      w.key(k).null();
    }
  };
  opt("daily_token_limit", l.tokens_per_day);
  opt("monthly_token_limit", l.tokens_per_month);
  opt("max_tokens_per_run", l.tokens_per_run);
  opt("max_concurrent_agents", l.max_concurrent_sessions);
  // The cents view of the monthly budget (as one source gives it).
  if (l.cost_per_month) {
    w.key("monthly_budget_cents").raw(format_usd(nanos{l.cost_per_month->count * 100}));
  } else {
    w.key("monthly_budget_cents").null();
  }
}

void write_session(json_writer& w, live_view& live, const team_id& team, const session_id& id,
                   const session_record& s, time_ms now) {
  auto t = live.get(totals_key(scope_session(team, id), window_lifetime, "-"));
  w.begin_object();
  w.field("id", id.str()).field("session_id", id.str());
  w.field("team_id", team.str()).field("agent_id", s.agent.str());
  if (auto a = live.agent(s.agent))
    w.field("agent_name", a->name.empty() ? s.agent.str() : a->name);
  if (s.task.empty()) {
    w.key("task_id").null();
  } else {
    w.field("task_id", s.task.str());
    if (auto k = live.task(team, s.task)) w.field("task_title", k->title);
  }
  w.field("model", s.model).field("effort", s.effort);
  w.field("status", to_string(s.status));
  if (s.status == session_status::queued) {
    w.field("queue_position", queue_position(live, team, id));
  }
  if (!s.reason.empty()) w.field("reason", s.reason);
  w.field("opened_at", format_rfc3339(s.opened_at));
  if (s.ended_at) {
    w.field("ended_at", format_rfc3339(s.ended_at));
  } else {
    w.key("ended_at").null();
  }
  const time_ms end = s.ended_at ? s.ended_at : now;
  w.field("duration_minutes", std::max<std::int64_t>(0, (end - s.opened_at) / 60'000));
  w.money("cost", nanos{t.cost_nanos});
  w.money("rejected_cost", nanos{t.rejected_cost_nanos});
  w.field("input_tokens", t.input_tokens).field("output_tokens", t.output_tokens);
  w.field("cache_creation_input_tokens", t.cache_creation_tokens);
  w.field("cache_read_input_tokens", t.cache_read_tokens);
  w.field("tokens", t.tokens());
  w.field("reports", t.events).field("rejected_reports", t.rejected_events);
  w.end_object();
}

}  // namespace tally::api
