// GET /api/v1/sessions: the run log of a team (the dashboard's run log and live sessions). Every
// session, newest first, with its outcome, duration, tokens and cost, and high_tokens when its
// total tokens are unusually high for its agent (projections/run_log.h). One page is one pass
// over the team's sessions in the live view, so a session opened here a moment ago is in it.
#include <algorithm>
#include <charconv>

#include "api/base64url.h"
#include "api/handlers.h"
#include "projections/run_log.h"

namespace tally::api {
namespace {

constexpr std::int64_t default_limit = 100;
constexpr std::int64_t max_limit = 1000;

[[noreturn]] void bad_query(const std::string& detail) {
  throw api_error(http::status::bad_request, "bad_query", detail);
}

struct log_query {
  usage_scope scope;
  std::optional<agent_id> agent;
  std::optional<std::string> model;
  std::vector<session_status> statuses;  // empty: any
  std::optional<time_ms> since;
  std::int64_t limit = default_limit;
  std::optional<std::pair<time_ms, std::string>> after;  // (opened_at, id) of the last row
};

void add_status(std::string_view s, std::vector<session_status>& out) {
  using st = session_status;
  if (s == "active") {
    out.push_back(st::active);
  } else if (s == "queued") {
    out.push_back(st::queued);
  } else if (s == "ended") {
    out.push_back(st::completed);
    out.push_back(st::failed);
  } else if (s == "completed") {
    out.push_back(st::completed);
  } else if (s == "failed") {
    out.push_back(st::failed);
  } else if (s == "terminated") {
    out.push_back(st::terminated);
  } else {
    bad_query("status is active, queued, ended, completed, failed or terminated");
  }
}

std::string cursor_of(const run_facts& r) {
  return base64url_encode(std::to_string(r.record.opened_at) + "/" + r.id.str());
}

std::pair<time_ms, std::string> read_cursor(std::string_view c) {
  auto raw = base64url_decode(c);
  const auto slash = raw ? raw->find('/') : std::string::npos;
  time_ms at = 0;
  if (slash != std::string::npos) {
    auto [p, ec] = std::from_chars(raw->data(), raw->data() + slash, at);
    if (ec == std::errc() && p == raw->data() + slash && valid_id(raw->substr(slash + 1))) {
      return {at, raw->substr(slash + 1)};
    }
  }
  bad_query("cursor is not one this API gave");
}

log_query read_query(const request_ctx& ctx) {
  static const std::initializer_list<std::string_view> known = {
      "team_id", "agent_id", "model", "status", "since", "limit", "cursor"};
  for (auto& [k, v] : ctx.query.items) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      bad_query("unknown query parameter " + k);
    }
  }
  log_query q;
  q.scope = read_usage_scope(ctx);
  if (q.scope.org) bad_query("team_id is required with an org-wide key");
  if (auto a = ctx.query.get("agent_id")) {
    if (!valid_id(*a)) bad_query("agent_id is not a valid id");
    q.agent = agent_id{std::string(*a)};
  }
  if (auto m = ctx.query.get("model")) q.model = std::string(*m);
  if (auto s = ctx.query.get("status")) {
    std::string_view rest = *s;
    while (true) {
      const auto comma = rest.find(',');
      add_status(rest.substr(0, comma), q.statuses);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (auto s = ctx.query.get("since")) {
    auto t = parse_date_or_time(*s);
    if (!t) bad_query("since must be a date YYYY-MM-DD or an RFC 3339 time");
    q.since = *t;
  }
  if (auto l = ctx.query.get("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), q.limit);
    if (ec != std::errc() || p != l->data() + l->size() || q.limit < 1 || q.limit > max_limit) {
      bad_query("limit is an integer from 1 to " + std::to_string(max_limit));
    }
  }
  if (auto c = ctx.query.get("cursor"); c && !c->empty()) q.after = read_cursor(*c);
  return q;
}

bool matches(const log_query& q, const run_facts& r) {
  const auto& s = r.record;
  if (q.agent && s.agent != *q.agent) return false;
  if (q.model && s.model != *q.model) return false;
  if (!q.statuses.empty() &&
      std::find(q.statuses.begin(), q.statuses.end(), s.status) == q.statuses.end()) {
    return false;
  }
  if (q.since && s.opened_at < *q.since) return false;
  if (q.after) {  // strictly older than the last row of the previous page
    if (s.opened_at != q.after->first) return s.opened_at < q.after->first;
    return r.id.str() < q.after->second;
  }
  return true;
}

void write_run(json_writer& w, live_view& live, const team_id& team, const run_facts& r,
               const std::map<agent_id, agent_run_stats>& stats, time_ms now) {
  const auto& s = r.record;
  const auto& t = r.used;
  w.begin_object();
  w.field("id", r.id.str()).field("session_id", r.id.str()).field("team_id", team.str());
  w.field("agent_id", s.agent.str());
  if (auto a = live.agent(s.agent)) {
    w.field("agent_name", a->name.empty() ? s.agent.str() : a->name);
  } else {
    w.field("agent_name", s.agent.str());
  }
  if (s.task.empty()) {
    w.key("task_id").null();
  } else {
    w.field("task_id", s.task.str());
  }
  w.field("model", s.model).field("effort", s.effort);
  w.field("status", to_string(s.status)).field("ended", run_ended(s.status));
  if (s.status == session_status::active || s.status == session_status::queued) {
    w.key("outcome").null();
  } else {
    w.field("outcome", to_string(s.status));
  }
  if (s.reason.empty()) {
    w.key("reason").null();
  } else {
    w.field("reason", s.reason);
  }
  w.field("started_at", format_rfc3339(s.opened_at));
  if (s.ended_at) {
    w.field("ended_at", format_rfc3339(s.ended_at));
  } else {
    w.key("ended_at").null();
  }
  const time_ms end = s.ended_at ? s.ended_at : now;
  w.field("duration_ms", std::max<std::int64_t>(0, end - s.opened_at));
  w.field("input_tokens", t.input_tokens).field("output_tokens", t.output_tokens);
  w.field("cache_creation_input_tokens", t.cache_creation_tokens);
  w.field("cache_read_input_tokens", t.cache_read_tokens);
  w.field("total_tokens", t.tokens());
  w.money("cost", nanos{t.cost_nanos});
  w.money("rejected_cost", nanos{t.rejected_cost_nanos});
  w.field("reports", t.events).field("rejected_reports", t.rejected_events);
  auto st = stats.find(s.agent);
  const bool high =
      st != stats.end() && st->second.high_above && t.tokens() > *st->second.high_above;
  w.field("high_tokens", high);
  w.key("agent_median_tokens");
  if (st != stats.end() && st->second.high_above) {
    w.integer(st->second.median_tokens);
  } else {
    w.null();
  }
  w.end_object();
}

}  // namespace

void list_sessions(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const log_query q = read_query(ctx);
  const team_id& team = q.scope.team;
  read_in_scope(deps, q.scope, std::move(respond), [&](live_view& live) {
    const auto runs = team_runs(live, team);
    const auto stats = run_stats_by_agent(runs);
    const time_ms now = deps.clock();
    json_writer w;
    w.begin_object().field("team_id", team.str()).field("limit", q.limit);
    w.key("high_tokens_rule").begin_object();
    w.field("factor", high_token_factor);
    w.field("min_ended_runs", static_cast<std::int64_t>(high_token_min_runs));
    w.end_object();
    w.key("sessions").begin_array();
    std::int64_t n = 0;
    const run_facts* last = nullptr;
    bool more = false;
    for (auto& r : runs) {
      if (!matches(q, r)) continue;
      if (n == q.limit) {
        more = true;
        break;
      }
      write_run(w, live, team, r, stats, now);
      last = &r;
      ++n;
    }
    w.end_array().field("count", n).key("next_cursor");
    if (more && last) {
      w.string(cursor_of(*last));
    } else {
      w.null();
    }
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
