// GET /api/v1/usage: the usage log of a team, newest first, one page per request. A page is one
// range scan of the log (projections/usage_log.h) in the live view, so the node's own
// acknowledged reports are in it before they are folded; next_cursor resumes after the last row.
#include <algorithm>
#include <charconv>

#include "api/base64url.h"
#include "api/handlers.h"
#include "projections/usage_log.h"

namespace tally::api {
namespace {

constexpr std::int64_t default_limit = 100;
constexpr std::int64_t max_limit = 1000;
// A date bound covers its day in the team's zone: every UTC offset is within 14 hours.
constexpr time_ms zone_slack_ms = 14 * 3'600'000;

[[noreturn]] void bad_query(const std::string& detail) {
  throw api_error(http::status::bad_request, "bad_query", detail);
}

struct log_query {
  usage_scope scope;
  std::optional<std::string> agent, session, task, model;
  std::optional<bool> rejected;
  std::optional<time_ms> start_ms, end_ms;        // [start, end) in time
  std::optional<std::string> start_day, end_day;  // [start, end] in the team's days
  std::int64_t limit = default_limit;
  std::optional<std::string> after;  // key tail of the last row of the previous page
};

std::optional<std::string> id_filter(const request_ctx& ctx, std::string_view name) {
  auto v = ctx.query.get(name);
  if (!v) return std::nullopt;
  if (!valid_id(*v)) bad_query(std::string(name) + " is not a valid id");
  return std::string(*v);
}

// start/end: a date YYYY-MM-DD (whole days in the team's zone) or an RFC 3339 instant.
void time_bound(const request_ctx& ctx, std::string_view name, bool is_end, log_query& q) {
  auto v = ctx.query.get(name);
  if (!v) return;
  auto t = parse_date_or_time(*v);
  if (!t) bad_query(std::string(name) + " must be a date YYYY-MM-DD or an RFC 3339 time");
  if (v->size() == 10) {
    (is_end ? q.end_day : q.start_day) = std::string(*v);
    if (is_end) {
      q.end_ms = *t + 86'400'000 + zone_slack_ms;
    } else {
      q.start_ms = *t - zone_slack_ms;
    }
  } else {
    (is_end ? q.end_ms : q.start_ms) = *t;
  }
}

// The cursor is the key tail of the last row of the page: time '/' event id.
std::string cursor_of(std::string_view key_tail) {
  return base64url_encode(key_tail);
}

std::string key_tail_of(std::string_view cursor) {
  auto raw = base64url_decode(cursor);
  if (!raw || raw->size() < 15 || (*raw)[13] != '/' ||
      !valid_id(std::string_view(*raw).substr(14))) {
    bad_query("cursor is not one this API gave");
  }
  for (int i = 0; i < 13; ++i) {
    if ((*raw)[i] < '0' || (*raw)[i] > '9') bad_query("cursor is not one this API gave");
  }
  return *raw;
}

log_query read_query(const request_ctx& ctx) {
  static const std::initializer_list<std::string_view> known = {
      "team_id", "agent_id", "session_id", "task_id", "model",
      "status",  "start",    "end",        "limit",   "cursor"};
  for (auto& [k, v] : ctx.query.items) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      bad_query("unknown query parameter " + k);
    }
  }
  log_query q;
  q.scope = read_usage_scope(ctx);
  if (q.scope.org) bad_query("team_id is required with an org-wide key");
  q.agent = id_filter(ctx, "agent_id");
  q.session = id_filter(ctx, "session_id");
  q.task = id_filter(ctx, "task_id");
  if (auto m = ctx.query.get("model")) q.model = std::string(*m);
  if (auto s = ctx.query.get("status")) {
    if (*s == "recorded") {
      q.rejected = false;
    } else if (*s == "rejected") {
      q.rejected = true;
    } else {
      bad_query("status is recorded or rejected");
    }
  }
  time_bound(ctx, "start", false, q);
  time_bound(ctx, "end", true, q);
  if ((q.start_ms && q.end_ms && *q.start_ms >= *q.end_ms) ||
      (q.start_day && q.end_day && *q.start_day > *q.end_day)) {
    bad_query("start is not before end");
  }
  if (auto l = ctx.query.get("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), q.limit);
    if (ec != std::errc() || p != l->data() + l->size() || q.limit < 1 || q.limit > max_limit) {
      bad_query("limit is an integer from 1 to " + std::to_string(max_limit));
    }
  }
  if (auto c = ctx.query.get("cursor"); c && !c->empty()) q.after = key_tail_of(*c);
  return q;
}

bool matches(const log_query& q, const usage_log_row& r) {
  if (q.agent && r.agent.str() != *q.agent) return false;
  if (q.session && r.session.str() != *q.session) return false;
  if (q.task && r.task.str() != *q.task) return false;
  if (q.model && r.model != *q.model) return false;
  if (q.rejected && r.rejected != *q.rejected) return false;
  if (q.start_ms && r.occurred_at < *q.start_ms) return false;
  if (q.end_ms && r.occurred_at >= *q.end_ms) return false;
  if (q.start_day && r.day < *q.start_day) return false;
  if (q.end_day && r.day > *q.end_day) return false;
  return true;
}

void optional_field(json_writer& w, std::string_view k, std::string_view v) {
  if (v.empty()) {
    w.key(k).null();
  } else {
    w.field(k, v);
  }
}

void write_row(json_writer& w, const usage_log_row& r) {
  w.begin_object().field("event_id", r.id.str()).field("time", format_rfc3339(r.occurred_at));
  w.field("day", r.day).field("team_id", r.team.str());
  optional_field(w, "agent_id", r.agent.str());
  optional_field(w, "session_id", r.session.str());
  optional_field(w, "task_id", r.task.str());
  w.field("model", r.model);
  optional_field(w, "effort", r.effort);
  w.field("input_tokens", r.tokens.input).field("output_tokens", r.tokens.output);
  w.field("cache_creation_input_tokens", r.tokens.cache_creation);
  w.field("cache_read_input_tokens", r.tokens.cache_read);
  w.field("total_tokens", r.tokens.total());
  w.money("cost", r.cost).field("cost_source", to_string(r.source));
  optional_field(w, "price_version", r.price_version);
  w.field("unpriced", r.source == cost_source::unpriced);
  w.field("status", r.rejected ? "rejected" : "recorded");
  optional_field(w, "reason", r.reason);
  w.end_object();
}

}  // namespace

void usage_log(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const log_query q = read_query(ctx);
  const team_id& team = q.scope.team;
  read_in_scope(deps, q.scope, std::move(respond), [&](live_view& live) {
    // Backwards from `to` (exclusive): the newest row first.
    const std::string prefix = usage_log_prefix(team);
    const std::string from = q.start_ms ? usage_log_bound(team, *q.start_ms) : prefix;
    std::string to = q.end_ms ? usage_log_bound(team, *q.end_ms) : team.str() + '0';
    if (q.after) to = std::min(to, prefix + *q.after);
    json_writer w;
    w.begin_object().field("team_id", team.str()).field("limit", q.limit);
    w.key("usage").begin_array();
    std::int64_t n = 0;
    std::string last;  // key tail of the last row written
    bool more = false;
    if (from < to) {
      live.scan_usage_log(from, to, [&](std::string_view k, std::string_view v) {
        auto r = decode_usage_log_row(k, v);
        if (!r || !matches(q, *r)) return true;
        if (n == q.limit) {
          more = true;
          return false;
        }
        write_row(w, *r);
        last.assign(k.substr(prefix.size()));
        ++n;
        return true;
      });
    }
    w.end_array().field("count", n).key("next_cursor");
    if (more) {
      w.string(cursor_of(last));
    } else {
      w.null();
    }
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
