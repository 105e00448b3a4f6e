#include "projections/thresholds.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "schemas/event_time.h"

namespace tally {
namespace json = boost::json;

namespace {

void append_component(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '%') {
      out += "%25";
    } else if (c == ':') {
      out += "%3A";
    } else {
      out.push_back(c);
    }
  }
}

std::optional<json::object> parse_object(std::string_view s) {
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// The thresholds stored for a scope key ('g' | 't/' team), pending decisions first.
std::optional<alert_thresholds_set> stored_thresholds(live_view& live, const team_id& t) {
  const auto& pending = live.pending_entities();
  for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
    if (auto* p = std::get_if<alert_thresholds_set>(&it->payload); p && p->team == t) return *p;
  }
  auto row = live.state().entity(t.empty() ? "alertcfg/g" : "alertcfg/t/" + t.str());
  if (!row) return std::nullopt;
  auto o = parse_object(*row);
  if (!o) return std::nullopt;
  try {
    (*o)["team_id"] = t.str();
    return read_alert_thresholds_set(*o);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::string period_key(const alert_subject& s) {
  return "alertlast/" + alert_scope_key(s) + "/" + s.window;
}

// The latest period of a (scope, window) with a crossing, pending decisions included.
std::optional<std::string> last_period(live_view& live, const alert_subject& s) {
  std::optional<std::string> best;
  const auto key = alert_scope_key(s);
  for (auto& e : live.pending_entities()) {
    auto* p = std::get_if<budget_threshold_crossed>(&e.payload);
    if (p && p->window == s.window && alert_scope_key(*p) == key) {
      if (!best || *best < p->period) best = p->period;
    }
  }
  if (auto row = live.state().entity(period_key(s)); row && (!best || *best < *row)) best = *row;
  return best;
}

// The identity, time and source of an event, without its payload.
event head_of(const event& e) {
  event h;
  h.id = e.id;
  h.time = e.time;
  h.source = e.source;
  return h;
}

event make_event(const event& cause, event_id id, event_payload p) {
  event e;
  e.id = std::move(id);
  e.time = cause.time;
  e.source = cause.source;
  e.payload = std::move(p);
  return e;
}

void add_crossing(live_view& live, alert_subject s, const alert_threshold_spec& t,
                  const event& cause, std::vector<event>& out) {
  s.threshold_percent = t.percent;
  s.level = t.level;
  auto st = alert_state(live, alert_base_id(s));
  if (st.active) return;
  s.occurrence = st.occurrence + 1;
  budget_threshold_crossed c;
  static_cast<alert_subject&>(c) = s;
  c.message = render_message(t.message, s);
  c.crossing_event = cause.id;
  event_id id = alert_id(s);
  out.push_back(make_event(cause, std::move(id), std::move(c)));
}

void add_resolution(live_view& live, alert_subject s, const alert_threshold_spec& t,
                    const std::string& reason, const event& cause, std::vector<event>& out) {
  s.threshold_percent = t.percent;
  s.level = t.level;
  auto st = alert_state(live, alert_base_id(s));
  if (!st.active) return;
  s.occurrence = st.occurrence;
  budget_threshold_resolved r;
  static_cast<alert_subject&>(r) = s;
  r.alert = alert_id(s);
  r.reason = reason;
  r.cause_event = cause.id;
  event_id id = resolution_id(r.alert);
  out.push_back(make_event(cause, std::move(id), std::move(r)));
}

std::string usd(std::int64_t n) {
  return format_usd(nanos{n});
}

}  // namespace

std::string alert_base_id(const alert_subject& s) {
  std::string id = "thr:";
  id += to_string(s.kind);
  id.push_back(':');
  if (s.kind == alert_scope_kind::task || s.kind == alert_scope_kind::session) {
    append_component(id, s.team.str());
    id.push_back(':');
  }
  append_component(id, s.scope_id);
  id.push_back(':');
  id += s.window;
  id.push_back(':');
  id += s.period;
  id.push_back(':');
  id += std::to_string(s.threshold_percent);
  return id;
}

event_id alert_id(const alert_subject& s) {
  auto id = alert_base_id(s);
  if (s.occurrence > 1) id += ":" + std::to_string(s.occurrence);
  return event_id{id};
}

event_id resolution_id(const event_id& alert) {
  return event_id{"res:" + alert.str().substr(alert.str().starts_with("thr:") ? 4 : 0)};
}

std::int64_t threshold_amount(std::int64_t limit, int percent) {
  const __int128 x = static_cast<__int128>(limit) * percent;
  __int128 q = x / 100;
  if (q * 100 < x) ++q;
  if (q > INT64_MAX) return INT64_MAX;
  return static_cast<std::int64_t>(q);
}

std::string render_message(const std::string& tmpl, const alert_subject& s) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      auto end = tmpl.find('}', i);
      if (end != std::string::npos) {
        std::string_view name(tmpl.data() + i + 1, end - i - 1);
        std::optional<std::string> v;
        if (name == "percent") v = std::to_string(s.threshold_percent);
        if (name == "level") v = s.level;
        if (name == "scope") v = std::string(to_string(s.kind));
        if (name == "scope_id") v = s.scope_id;
        if (name == "window") v = s.window;
        if (name == "period") v = s.period;
        if (name == "limit_usd") v = usd(s.limit.count);
        if (name == "spent_usd") v = usd(s.spent.count);
        if (name == "remaining_usd") v = usd(s.limit.count - s.spent.count);
        if (v) {
          out += *v;
          i = end;
          continue;
        }
      }
    }
    out.push_back(tmpl[i]);
  }
  return out;
}

threshold_config effective_thresholds(live_view& live, const limit_policy& p, const team_id& t) {
  if (!t.empty()) {
    if (auto s = stored_thresholds(live, t)) return {s->thresholds, s->notifications, "team"};
  }
  if (auto s = stored_thresholds(live, team_id{})) {
    return {s->thresholds, s->notifications, "global"};
  }
  return {p.thresholds, p.notifications, "config"};
}

std::vector<std::string> channels_off(const threshold_config& c) {
  std::vector<std::string> off;
  for (auto& n : c.notifications) {
    if (!n.enabled && (n.type == "email" || n.type == "webhook") &&
        std::find(off.begin(), off.end(), n.type) == off.end()) {
      off.push_back(n.type);
    }
  }
  std::sort(off.begin(), off.end());
  return off;
}

alert_status alert_state(live_view& live, const std::string& base) {
  const auto& pending = live.pending_entities();
  for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
    if (auto* c = std::get_if<budget_threshold_crossed>(&it->payload)) {
      if (alert_base_id(*c) == base) return {c->occurrence, true};
    } else if (auto* r = std::get_if<budget_threshold_resolved>(&it->payload)) {
      if (alert_base_id(*r) == base) return {r->occurrence, false};
    }
  }
  auto row = live.state().entity("alertstate/" + base);
  if (!row) return {};
  auto o = parse_object(*row);
  if (!o) return {};
  alert_status st;
  if (auto* n = o->if_contains("occurrence"); n && n->is_int64()) st.occurrence = n->get_int64();
  if (auto* a = o->if_contains("active"); a && a->is_bool()) st.active = a->get_bool();
  return st;
}

void add_threshold_events(live_view& live, const limit_policy& p, const team_id& team,
                          const std::vector<threshold_line>& lines, std::int64_t adding,
                          const event& cause_in, std::vector<event>& out) {
  if (lines.empty()) return;
  const event cause = head_of(cause_in);  // cause_in may live in `out`
  std::optional<threshold_config> cfg;
  for (auto& line : lines) {
    if (line.limit <= 0) continue;
    const std::int64_t before = line.spent;
    const std::int64_t after = before + adding;
    alert_subject s;
    s.team = team;
    s.kind = line.kind;
    s.scope_id = line.scope_id;
    s.window = line.window;
    s.period = line.period;
    s.limit = nanos{line.limit};
    s.spent = nanos{after};
    s.at = cause.time;
    const bool periodic = line.window == "day" || line.window == "month";
    // The first spend of a period ends the alerts of the scope's previous period.
    if (periodic && before == 0 && adding > 0) {
      if (auto last = last_period(live, s); last && *last < line.period) {
        if (!cfg) cfg = effective_thresholds(live, p, team);
        alert_subject old = s;
        old.period = *last;
        old.channels_off = channels_off(*cfg);
        const char w = line.window == "day" ? window_day : window_month;
        old.spent = nanos{live.get(totals_key(alert_scope_key(old), w, old.period)).cost_nanos};
        for (auto& t : cfg->thresholds) add_resolution(live, old, t, "new_period", cause, out);
      }
    }
    if (adding <= 0) continue;
    // Cheap test first: the report crosses nothing below the limit's lowest threshold.
    if (!cfg) cfg = effective_thresholds(live, p, team);
    s.channels_off = channels_off(*cfg);
    for (auto& t : cfg->thresholds) {
      const std::int64_t amount = threshold_amount(line.limit, t.percent);
      if (before < amount && after >= amount) add_crossing(live, s, t, cause, out);
    }
  }
}

void add_limit_change_alerts(live_view& live, const limit_policy& p, const limits_set& c,
                             const event& cause_in, std::vector<event>& out) {
  const event cause = head_of(cause_in);  // cause_in may live in `out`
  limit_set old;
  alert_subject s;
  s.team = c.team;
  s.at = cause.time;
  const date::time_zone* zone = find_zone("UTC");
  switch (c.scope) {
    case limit_scope::global:
      old = effective_global_limits(live, p);
      s.kind = alert_scope_kind::global;
      s.scope_id = "global";
      break;
    case limit_scope::team:
      old = effective_team_limits(live, p, c.team);
      s.kind = alert_scope_kind::team;
      s.scope_id = c.scope_id;
      break;
    case limit_scope::agent:
      old = effective_agent_limits(live, p, agent_id{c.scope_id});
      s.kind = alert_scope_kind::agent;
      s.scope_id = c.scope_id;
      break;
  }
  if (c.scope != limit_scope::global) {
    if (auto t = live.team(c.team)) {
      if (auto* z = find_zone(t->timezone)) zone = z;
    }
  }
  const auto now = periods_of(cause.time, zone);
  const utc_day utc = utc_day_of(cause.time);
  const auto cfg = effective_thresholds(live, p, c.team);
  s.channels_off = channels_off(cfg);
  struct window_change {
    const char* name;
    char w;
    std::string period;
    std::optional<nanos> before, after;
  };
  const bool global = c.scope == limit_scope::global;
  window_change windows[] = {
      {"day", window_day, global ? std::string(utc.day()) : now.day, old.cost_per_day,
       c.limits.cost_per_day},
      {"month", window_month, global ? std::string(utc.month()) : now.month, old.cost_per_month,
       c.limits.cost_per_month},
  };
  for (auto& w : windows) {
    if (w.before == w.after) continue;
    s.window = w.name;
    s.period = w.period;
    const std::int64_t spent = live.get(totals_key(alert_scope_key(s), w.w, w.period)).cost_nanos;
    s.spent = nanos{spent};
    s.limit = w.after.value_or(nanos{0});
    for (auto& t : cfg.thresholds) {
      const bool over =
          w.after && w.after->count > 0 && spent >= threshold_amount(w.after->count, t.percent);
      if (over) {
        add_crossing(live, s, t, cause, out);
      } else {
        add_resolution(live, s, t, w.after ? "limit_raised" : "limit_removed", cause, out);
      }
    }
  }
}

std::string encode_alert_row(const alert_row& r) {
  json::object o;
  o["id"] = r.id.str();
  o["data"] = alert_data(r.crossed);
  o["crossed_at"] = r.crossed.at;
  o["acknowledged"] = r.acknowledged;
  o["acknowledged_at"] = r.acknowledged_at;
  o["acknowledged_by"] = r.acknowledged_by;
  o["resolved"] = r.resolved;
  o["resolved_at"] = r.resolved_at;
  o["resolved_reason"] = r.resolved_reason;
  return json::serialize(o);
}

std::optional<alert_row> decode_alert_row(std::string_view text) {
  auto o = parse_object(text);
  if (!o) return std::nullopt;
  try {
    alert_row r;
    auto* d = o->if_contains("data");
    if (!d || !d->is_object()) return std::nullopt;
    r.crossed = read_threshold_crossed(d->get_object());
    // crossed.at is kept to the millisecond apart from the RFC 3339 text
    if (auto* t = o->if_contains("crossed_at"); t && t->is_int64()) r.crossed.at = t->get_int64();
    auto s = [&](const char* k) {
      auto* v = o->if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    auto b = [&](const char* k) {
      auto* v = o->if_contains(k);
      return v && v->is_bool() && v->get_bool();
    };
    auto i = [&](const char* k) -> std::int64_t {
      auto* v = o->if_contains(k);
      return v && v->is_int64() ? v->get_int64() : 0;
    };
    r.id = event_id{s("id")};
    r.acknowledged = b("acknowledged");
    r.acknowledged_at = i("acknowledged_at");
    r.acknowledged_by = s("acknowledged_by");
    r.resolved = b("resolved");
    r.resolved_at = i("resolved_at");
    r.resolved_reason = s("resolved_reason");
    return r;
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::vector<alert_row> alert_feed(live_view& live) {
  std::vector<alert_row> rows;
  live.state().scan_entities("alert/", [&](std::string_view, std::string_view v) {
    if (auto r = decode_alert_row(v)) rows.push_back(std::move(*r));
  });
  auto find = [&](const event_id& id) -> alert_row* {
    for (auto& r : rows) {
      if (r.id == id) return &r;
    }
    return nullptr;
  };
  for (auto& e : live.pending_entities()) {
    if (auto* c = std::get_if<budget_threshold_crossed>(&e.payload)) {
      if (!find(e.id)) {
        alert_row r;
        r.crossed = *c;
        r.id = e.id;
        rows.push_back(std::move(r));
      }
    } else if (auto* x = std::get_if<budget_threshold_resolved>(&e.payload)) {
      if (auto* r = find(x->alert); r && !r->resolved) {
        r->resolved = true;
        r->resolved_at = e.time;
        r->resolved_reason = x->reason;
      }
    } else if (auto* a = std::get_if<alert_acknowledged>(&e.payload)) {
      if (auto* r = find(a->alert); r && !r->acknowledged) {
        r->acknowledged = true;
        r->acknowledged_at = e.time;
        r->acknowledged_by = a->by;
      }
    }
  }
  std::sort(rows.begin(), rows.end(), [](const alert_row& a, const alert_row& b) {
    if (a.crossed.at != b.crossed.at) return a.crossed.at > b.crossed.at;
    return a.id.str() > b.id.str();
  });
  return rows;
}

std::optional<alert_row> find_alert(live_view& live, const event_id& id) {
  for (auto& r : alert_feed(live)) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

command_decision decide_ack_alert(live_view& live, const command_context& ctx, const team_id& team,
                                  const event_id& alert, const std::string& by) {
  auto r = find_alert(live, alert);
  if (!r || r->crossed.team != team) {
    command_decision d;
    d.refused = refusal::not_found;
    d.code = "alert_not_found";
    d.detail = "no alert " + alert.str();
    return d;
  }
  if (r->acknowledged) return {};
  command_decision d;
  event e;
  e.id = ctx.id;
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = alert_acknowledged{team, alert, by};
  d.events.push_back(std::move(e));
  return d;
}

command_decision decide_set_thresholds(live_view& live, const command_context& ctx,
                                       alert_thresholds_set c) {
  auto refuse = [](refusal r, std::string code, std::string detail) {
    command_decision d;
    d.refused = r;
    d.code = std::move(code);
    d.detail = std::move(detail);
    return d;
  };
  if (!c.team.empty() && !live.team(c.team)) {
    return refuse(refusal::not_found, "team_not_found", "no team " + c.team.str());
  }
  std::set<int> seen;
  for (auto& t : c.thresholds) {
    if (t.percent <= 0 || t.percent > 10'000) {
      return refuse(refusal::invalid, "bad_threshold", "percent must be between 1 and 10000");
    }
    if (!valid_alert_level(t.level)) {
      return refuse(refusal::invalid, "bad_level",
                    "level must be info, warning, critical or exceeded");
    }
    if (!seen.insert(t.percent).second) {
      return refuse(refusal::invalid, "duplicate_threshold",
                    "threshold " + std::to_string(t.percent) + "% is given twice");
    }
  }
  for (auto& n : c.notifications) {
    if (n.type != "in_app" && n.type != "email" && n.type != "webhook") {
      return refuse(refusal::invalid, "bad_notification",
                    "notification type must be in_app, email or webhook");
    }
  }
  std::sort(c.thresholds.begin(), c.thresholds.end(),
            [](const auto& a, const auto& b) { return a.percent < b.percent; });
  if (auto cur = stored_thresholds(live, c.team); cur && *cur == c) return {};  // a retry
  command_decision d;
  event e;
  e.id = ctx.id;
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = std::move(c);
  d.events.push_back(std::move(e));
  return d;
}

}  // namespace tally
