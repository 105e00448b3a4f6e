// The alerts endpoints: the in-app feed (GET /api/v1/alerts, newest first, with filters and a
// cursor), acknowledging an alert (an AlertAcknowledged event, so it survives a replay), and the
// thresholds in force (GET|PUT /api/v1/alerts/config, in config.yaml's `alerts:` shape).
#include <algorithm>
#include <charconv>

#include "api/handlers.h"
#include "projections/thresholds.h"

namespace tally::api {
namespace {

constexpr std::int64_t default_page = 50;
constexpr std::int64_t max_page = 500;

http_response bad_query(std::string detail) {
  throw api_error(http::status::bad_request, "bad_query", std::move(detail));
}

void write_time_or_null(json_writer& w, std::string_view k, time_ms t) {
  if (t) {
    w.field(k, format_rfc3339(t));
  } else {
    w.key(k).null();
  }
}

void write_alert(json_writer& w, const alert_row& r) {
  const auto& c = r.crossed;
  w.begin_object();
  w.field("id", r.id.str());
  w.field("type", "budget_threshold_crossed");
  if (c.team.empty()) {
    w.key("team_id").null();
  } else {
    w.field("team_id", c.team.str());
  }
  w.key("scope").begin_object();
  w.field("kind", to_string(c.kind)).field("id", c.scope_id);
  w.end_object();
  w.field("window", c.window).field("period", c.period);
  w.field("threshold_percent", c.threshold_percent);
  w.field("level", c.level).field("message", c.message);
  w.money("limit", c.limit).money("spent", c.spent);
  w.money("remaining", nanos{c.limit.count - c.spent.count});
  w.field("crossing_event_id", c.crossing_event.str());
  w.field("time", format_rfc3339(c.at));
  w.field("occurrence", c.occurrence);
  w.field("acknowledged", r.acknowledged);
  write_time_or_null(w, "acknowledged_at", r.acknowledged_at);
  if (r.acknowledged) {
    w.field("acknowledged_by", r.acknowledged_by);
  } else {
    w.key("acknowledged_by").null();
  }
  w.field("resolved", r.resolved);
  write_time_or_null(w, "resolved_at", r.resolved_at);
  if (r.resolved) {
    w.field("resolved_reason", r.resolved_reason);
  } else {
    w.key("resolved_reason").null();
  }
  w.end_object();
}

// The cursor of a row: "<time ms>~<id>"; a page holds the rows after it in feed order.
std::string cursor_of(const alert_row& r) {
  return std::to_string(r.crossed.at) + "~" + r.id.str();
}

bool after_cursor(const alert_row& r, time_ms at, const std::string& id) {
  if (r.crossed.at != at) return r.crossed.at < at;
  return r.id.str() < id;
}

struct feed_filter {
  std::optional<std::string> level, kind, scope_id;
  std::optional<bool> acknowledged, resolved;
  std::optional<time_ms> since, until;
  std::int64_t limit = default_page;
  std::optional<std::pair<time_ms, std::string>> cursor;
};

std::optional<bool> read_bool(const request_ctx& ctx, std::string_view k) {
  auto q = ctx.query.get(k);
  if (!q) return std::nullopt;
  if (*q == "true") return true;
  if (*q == "false") return false;
  bad_query(std::string(k) + " must be true or false");
  return std::nullopt;
}

std::optional<time_ms> read_time(const request_ctx& ctx, std::string_view k) {
  auto q = ctx.query.get(k);
  if (!q) return std::nullopt;
  auto t = parse_date_or_time(*q);
  if (!t) bad_query(std::string(k) + " must be a date (YYYY-MM-DD) or an RFC 3339 time");
  return *t;
}

feed_filter read_filter(const request_ctx& ctx) {
  feed_filter f;
  if (auto q = ctx.query.get("level")) {
    if (!valid_alert_level(*q)) bad_query("level must be info, warning, critical or exceeded");
    f.level = std::string(*q);
  }
  if (auto q = ctx.query.get("scope")) {
    // "agent" or "agent:eng-1"
    std::string_view s = *q;
    auto colon = s.find(':');
    alert_scope_kind k;
    if (!parse_alert_scope_kind(s.substr(0, colon), k)) {
      bad_query("scope must be global, team, agent, task or session (optionally :<id>)");
    }
    f.kind = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) f.scope_id = std::string(s.substr(colon + 1));
  }
  f.acknowledged = read_bool(ctx, "acknowledged");
  f.resolved = read_bool(ctx, "resolved");
  f.since = read_time(ctx, "since");
  f.until = read_time(ctx, "until");
  if (auto q = ctx.query.get("limit")) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(q->data(), q->data() + q->size(), n);
    if (ec != std::errc() || p != q->data() + q->size() || n < 1 || n > max_page) {
      bad_query("limit must be an integer from 1 to " + std::to_string(max_page));
    }
    f.limit = n;
  }
  if (auto q = ctx.query.get("cursor")) {
    auto tilde = q->find('~');
    std::int64_t at = 0;
    auto [p, ec] =
        std::from_chars(q->data(), q->data() + (tilde == std::string_view::npos ? 0 : tilde), at);
    if (tilde == std::string_view::npos || ec != std::errc() || p != q->data() + tilde) {
      bad_query("cursor is malformed (take next_cursor of the previous page)");
    }
    f.cursor.emplace(at, std::string(q->substr(tilde + 1)));
  }
  return f;
}

bool matches(const feed_filter& f, const alert_row& r) {
  const auto& c = r.crossed;
  if (f.level && c.level != *f.level) return false;
  if (f.kind && to_string(c.kind) != *f.kind) return false;
  if (f.scope_id && c.scope_id != *f.scope_id) return false;
  if (f.acknowledged && r.acknowledged != *f.acknowledged) return false;
  if (f.resolved && r.resolved != *f.resolved) return false;
  if (f.since && c.at < *f.since) return false;
  if (f.until && c.at >= *f.until) return false;
  if (f.cursor && !after_cursor(r, f.cursor->first, f.cursor->second)) return false;
  return true;
}

void write_config(json_writer& w, const threshold_config& cfg, const team_id& team) {
  w.begin_object();
  if (team.empty()) {
    w.key("team_id").null();
  } else {
    w.field("team_id", team.str());
  }
  w.field("source", cfg.source);
  w.key("alerts").begin_object();
  w.key("thresholds").begin_array();
  for (auto& t : cfg.thresholds) {
    w.begin_object();
    w.field("percent", t.percent).field("level", t.level).field("message", t.message);
    w.end_object();
  }
  w.end_array();
  w.key("notifications").begin_array();
  for (auto& n : cfg.notifications) {
    w.begin_object();
    w.field("type", n.type).field("enabled", n.enabled);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.end_object();
}

const limit_policy& policy_or_none(const api_deps& deps) {
  static const limit_policy none;
  return deps.policy ? *deps.policy : none;
}

std::string default_level(int percent) {
  return percent >= 100  ? "exceeded"
         : percent >= 95 ? "critical"
         : percent >= 80 ? "warning"
                         : "info";
}

}  // namespace

void list_alerts(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  const feed_filter f = read_filter(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    json_writer w;
    w.begin_object();
    w.key("alerts").begin_array();
    std::int64_t n = 0;
    const alert_row* last = nullptr;
    bool more = false;
    auto rows = alert_feed(live);
    for (auto& r : rows) {
      // A team sees its own team's alerts; the org's (global) ones are for org-wide admins.
      if (!s.org && (r.crossed.team != s.team || r.crossed.kind == alert_scope_kind::global)) {
        continue;
      }
      if (!matches(f, r)) continue;
      if (n == f.limit) {
        more = true;
        break;
      }
      write_alert(w, r);
      last = &r;
      ++n;
    }
    w.end_array();
    w.field("count", n);
    if (more && last) {
      w.field("next_cursor", cursor_of(*last));
    } else {
      w.key("next_cursor").null();
    }
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

void acknowledge_alert(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const event_id id{path_id(ctx, "alert_id")};
  std::optional<alert_row> row;
  deps.ledger->with_state([&](live_view& live) { row = find_alert(live, id); });
  if (!row) throw api_error(http::status::not_found, "alert_not_found", "no alert " + id.str());
  // Permission before anything else: a credential of another team learns nothing.
  if (row->crossed.kind == alert_scope_kind::global || row->crossed.team.empty()) {
    require_org_admin(ctx);
  } else {
    require(ctx, row->crossed.team, need::write);
  }
  const team_id team = row->crossed.team;
  const std::string by =
      ctx.caller.key_id.empty() ? std::string(to_string(ctx.caller.who)) : ctx.caller.key_id;
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        command_context cc{deps.policy, deps.clock(), deps.source, event_id{"ack:" + id.str()}};
        return decide_ack_alert(live, cc, team, id, by);
      },
      [&](live_view& live, const command_decision&) {
        auto now = find_alert(live, id);
        json_writer w;
        if (now) {
          write_alert(w, *now);
        } else {
          w.begin_object().end_object();
        }
        return json_text(http::status::ok, w.take());
      });
}

void get_alerts_config(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team;
  if (auto q = ctx.query.get("team_id"); q && !q->empty()) {
    if (!valid_id(*q)) bad_query("team_id is not a valid id");
    team = team_id{std::string(*q)};
    require(ctx, team, need::read);
  } else if (!ctx.caller.org_wide()) {
    if (ctx.caller.team.empty()) require_org_admin(ctx);
    team = team_id{ctx.caller.team};
    require(ctx, team, need::read);
  }
  std::optional<http_response> res;
  deps.ledger->with_state([&](live_view& live) {
    if (!team.empty() && !live.team(team)) {
      res =
          problem(http::status::not_found, "team_not_found", "Not found", "no team " + team.str());
      return;
    }
    json_writer w;
    write_config(w, effective_thresholds(live, policy_or_none(deps), team), team);
    res = json_text(http::status::ok, w.take());
  });
  respond(std::move(*res));
}

void put_alerts_config(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto body = body_of(ctx);
  body.allow_only({"team_id", "thresholds", "notifications"});
  team_id team;
  if (auto t = body.id("team_id"); t && !t->empty()) {
    if (!valid_id(*t)) {
      throw api_error(http::status::unprocessable_entity, "bad_id", "team_id is not a valid id");
    }
    team = team_id{*t};
    require(ctx, team, need::admin);
  } else {
    require_org_admin(ctx);
  }
  std::optional<std::vector<alert_threshold_spec>> thresholds;
  if (auto list = body.objects("thresholds")) {
    thresholds.emplace();
    for (std::size_t i = 0; i < list->size(); ++i) {
      const request_body& t = (*list)[i];
      t.check();
      t.allow_only({"percent", "level", "message"});
      auto p = t.integer("percent");
      const std::string where = "thresholds[" + std::to_string(i) + "]";
      if (!p || *p < 1 || *p > 10'000) {
        throw api_error(http::status::unprocessable_entity, "bad_threshold",
                        where + ".percent must be an integer from 1 to 10000");
      }
      alert_threshold_spec s;
      s.percent = static_cast<int>(*p);
      s.level = t.text("level").value_or(default_level(s.percent));
      s.message = t.text("message").value_or(std::to_string(s.percent) + "% of budget used");
      if (!valid_alert_level(s.level)) {
        throw api_error(http::status::unprocessable_entity, "bad_level",
                        where + ".level must be info, warning, critical or exceeded");
      }
      thresholds->push_back(std::move(s));
    }
  } else if (body.has("thresholds") && !body.is_null("thresholds")) {
    throw api_error(http::status::unprocessable_entity, "bad_thresholds",
                    "thresholds must be a list of {percent, level, message}");
  }
  std::optional<std::vector<alert_channel>> channels;
  if (auto list = body.objects("notifications")) {
    channels.emplace();
    for (std::size_t i = 0; i < list->size(); ++i) {
      const request_body& n = (*list)[i];
      n.check();
      n.allow_only({"type", "enabled"});
      auto type = n.text("type");
      if (!type || (*type != "in_app" && *type != "email" && *type != "webhook")) {
        throw api_error(
            http::status::unprocessable_entity, "bad_notification",
            "notifications[" + std::to_string(i) + "].type must be in_app, email or webhook");
      }
      channels->push_back({*type, n.boolean("enabled").value_or(true)});
    }
  } else if (body.has("notifications") && !body.is_null("notifications")) {
    throw api_error(http::status::unprocessable_entity, "bad_notifications",
                    "notifications must be a list of {type, enabled}");
  }
  const event_id id = request_event_id(ctx);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        if (!team.empty() && !live.team(team)) {
          command_decision d;
          d.refused = refusal::not_found;
          d.code = "team_not_found";
          d.detail = "no team " + team.str();
          return d;
        }
        // What is not given stays as it is in force now.
        auto current = effective_thresholds(live, policy_or_none(deps), team);
        alert_thresholds_set c{team, thresholds.value_or(current.thresholds),
                               channels.value_or(current.notifications)};
        return decide_set_thresholds(live, {deps.policy, deps.clock(), deps.source, id},
                                     std::move(c));
      },
      [&](live_view& live, const command_decision&) {
        json_writer w;
        write_config(w, effective_thresholds(live, policy_or_none(deps), team), team);
        return json_text(http::status::ok, w.take());
      });
}

}  // namespace tally::api
