// Codec of the alert events' `data`. Alerts are rare, so this goes through Boost.JSON values
// both ways; money is written as *_nanos integers and, for people, *_usd exact decimal strings
// (the ledger never carries a float).
#include "schemas/alert_events.h"

#include <stdexcept>

#include <boost/json.hpp>

namespace tally {
namespace json = boost::json;

namespace {

const json::value& need(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v) throw std::invalid_argument(std::string("missing ") + std::string(k));
  return *v;
}

std::string str(const json::object& o, std::string_view k) {
  auto& v = need(o, k);
  if (!v.is_string()) throw std::invalid_argument(std::string(k) + " is not a string");
  return std::string(v.get_string());
}

std::int64_t i64(const json::object& o, std::string_view k) {
  auto& v = need(o, k);
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  throw std::invalid_argument(std::string(k) + " is not an integer");
}

template <class Id>
Id id_of(const json::object& o, std::string_view k, bool allow_empty) {
  auto s = str(o, k);
  if (s.empty() && allow_empty) return Id{};
  if (s.empty() || s.find_first_of("/\"\\ ") != std::string::npos) {
    throw std::invalid_argument(std::string(k) + " is not an id");
  }
  return Id{s};
}

void put_subject(json::object& o, const alert_subject& s) {
  o["team_id"] = s.team.str();
  json::object scope;
  scope["kind"] = to_string(s.kind);
  scope["id"] = s.scope_id;
  o["scope"] = std::move(scope);
  o["window"] = s.window;
  o["period"] = s.period;
  o["threshold_percent"] = s.threshold_percent;
  o["level"] = s.level;
  o["limit_nanos"] = s.limit.count;
  o["spent_nanos"] = s.spent.count;
  o["remaining_nanos"] = s.limit.count - s.spent.count;
  o["limit_usd"] = format_usd(s.limit);
  o["spent_usd"] = format_usd(s.spent);
  o["remaining_usd"] = format_usd(nanos{s.limit.count - s.spent.count});
  o["occurrence"] = s.occurrence;
  o["time"] = format_rfc3339(s.at);
  if (!s.channels_off.empty()) {
    json::array off;
    for (auto& c : s.channels_off) off.emplace_back(c);
    o["channels_off"] = std::move(off);
  }
}

void read_subject(const json::object& o, alert_subject& s) {
  s.team = id_of<team_id>(o, "team_id", true);  // empty: a global limit change's
  auto& sv = need(o, "scope");
  if (!sv.is_object()) throw std::invalid_argument("scope is not an object");
  if (!parse_alert_scope_kind(str(sv.get_object(), "kind"), s.kind)) {
    throw std::invalid_argument("unknown scope kind");
  }
  s.scope_id = str(sv.get_object(), "id");
  s.window = str(o, "window");
  s.period = str(o, "period");
  s.threshold_percent = static_cast<int>(i64(o, "threshold_percent"));
  s.level = str(o, "level");
  s.limit = nanos{i64(o, "limit_nanos")};
  s.spent = nanos{i64(o, "spent_nanos")};
  s.occurrence = i64(o, "occurrence");
  auto t = parse_rfc3339(str(o, "time"));
  if (!t) throw std::invalid_argument("time is not RFC 3339");
  s.at = *t;
  if (auto* off = o.if_contains("channels_off"); off && off->is_array()) {
    for (auto& c : off->get_array()) {
      if (c.is_string()) s.channels_off.emplace_back(c.get_string());
    }
  }
  if (s.threshold_percent <= 0 || s.occurrence <= 0 || !valid_alert_level(s.level)) {
    throw std::invalid_argument("bad threshold");
  }
}

}  // namespace

std::string_view to_string(alert_scope_kind k) {
  switch (k) {
    case alert_scope_kind::global:
      return "global";
    case alert_scope_kind::team:
      return "team";
    case alert_scope_kind::agent:
      return "agent";
    case alert_scope_kind::task:
      return "task";
    case alert_scope_kind::session:
      return "session";
  }
  return "unknown";
}

bool parse_alert_scope_kind(std::string_view s, alert_scope_kind& out) {
  for (auto k : {alert_scope_kind::global, alert_scope_kind::team, alert_scope_kind::agent,
                 alert_scope_kind::task, alert_scope_kind::session}) {
    if (to_string(k) == s) {
      out = k;
      return true;
    }
  }
  return false;
}

std::vector<alert_threshold_spec> default_threshold_specs() {
  return {
      {50, "info", "50% of budget used"},
      {80, "warning", "80% of budget used"},
      {95, "critical", "95% of budget used - approaching limit"},
      {100, "exceeded", "budget exceeded"},
  };
}

bool valid_alert_level(std::string_view l) {
  return l == "info" || l == "warning" || l == "critical" || l == "exceeded";
}

std::string alert_scope_key(const alert_subject& s) {
  switch (s.kind) {
    case alert_scope_kind::global:
      return "g";
    case alert_scope_kind::team:
      return "t/" + s.scope_id;
    case alert_scope_kind::agent:
      return "a/" + s.team.str() + "/" + s.scope_id;
    case alert_scope_kind::task:
      return "k/" + s.team.str() + "/" + s.scope_id;
    case alert_scope_kind::session:
      return "s/" + s.team.str() + "/" + s.scope_id;
  }
  return "g";
}

json::object alert_data(const budget_threshold_crossed& e) {
  json::object o;
  put_subject(o, e);
  o["message"] = e.message;
  o["crossing_event_id"] = e.crossing_event.str();
  return o;
}

json::object alert_data(const budget_threshold_resolved& e) {
  json::object o;
  put_subject(o, e);
  o["alert_id"] = e.alert.str();
  o["reason"] = e.reason;
  o["cause_event_id"] = e.cause_event.str();
  return o;
}

json::object alert_data(const alert_acknowledged& e) {
  json::object o;
  o["team_id"] = e.team.str();
  o["alert_id"] = e.alert.str();
  o["by"] = e.by;
  return o;
}

json::object thresholds_json(const std::vector<alert_threshold_spec>& t,
                             const std::vector<alert_channel>& n) {
  json::object o;
  json::array ts;
  for (auto& x : t) {
    json::object j;
    j["percent"] = x.percent;
    j["level"] = x.level;
    j["message"] = x.message;
    ts.push_back(std::move(j));
  }
  o["thresholds"] = std::move(ts);
  json::array ns;
  for (auto& x : n) {
    json::object j;
    j["type"] = x.type;
    j["enabled"] = x.enabled;
    ns.push_back(std::move(j));
  }
  o["notifications"] = std::move(ns);
  return o;
}

json::object alert_data(const alert_thresholds_set& e) {
  json::object o = thresholds_json(e.thresholds, e.notifications);
  o["team_id"] = e.team.str();
  return o;
}

budget_threshold_crossed read_threshold_crossed(const json::object& o) {
  budget_threshold_crossed e;
  read_subject(o, e);
  e.message = str(o, "message");
  e.crossing_event = event_id{str(o, "crossing_event_id")};
  return e;
}

budget_threshold_resolved read_threshold_resolved(const json::object& o) {
  budget_threshold_resolved e;
  read_subject(o, e);
  e.alert = event_id{str(o, "alert_id")};
  e.reason = str(o, "reason");
  e.cause_event = event_id{str(o, "cause_event_id")};
  return e;
}

alert_acknowledged read_alert_acknowledged(const json::object& o) {
  alert_acknowledged e;
  e.team = id_of<team_id>(o, "team_id", false);
  e.alert = event_id{str(o, "alert_id")};
  e.by = str(o, "by");
  if (e.alert.empty()) throw std::invalid_argument("empty alert_id");
  return e;
}

alert_thresholds_set read_alert_thresholds_set(const json::object& o) {
  alert_thresholds_set e;
  e.team = id_of<team_id>(o, "team_id", true);
  auto& ts = need(o, "thresholds");
  if (!ts.is_array()) throw std::invalid_argument("thresholds is not a list");
  for (auto& t : ts.get_array()) {
    if (!t.is_object()) throw std::invalid_argument("threshold is not an object");
    auto& to = t.get_object();
    alert_threshold_spec s{static_cast<int>(i64(to, "percent")), str(to, "level"),
                           str(to, "message")};
    if (s.percent <= 0 || !valid_alert_level(s.level)) throw std::invalid_argument("threshold");
    e.thresholds.push_back(std::move(s));
  }
  if (auto* ns = o.if_contains("notifications"); ns && ns->is_array()) {
    for (auto& n : ns->get_array()) {
      if (!n.is_object()) throw std::invalid_argument("notification is not an object");
      auto& no = n.get_object();
      auto* en = no.if_contains("enabled");
      e.notifications.push_back({str(no, "type"), !en || !en->is_bool() || en->get_bool()});
    }
  }
  return e;
}

}  // namespace tally
