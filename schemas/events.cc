// Event codec. Writing goes straight to text for the envelope and usage payloads, through
// Boost.JSON for the rest (int64 money fields are exact either way); reading goes
// through simdjson on-demand, which hands numbers over as raw text where money needs it.
//
// Record value grammar (CloudEvents 1.0, structured mode):
//   { "specversion": "1.0", "id": str, "source": str, "type": "tally.<name>.v1",
//     "time": rfc3339, "subject": team, "data": {...} }
// (no datacontenttype: in the JSON format a JSON `data` is application/json by default, and
// a usage event's data leaves out the fields at their default, "" or 0; both read as before.)
#include "schemas/events.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <simdjson.h>
#include <boost/json.hpp>

#include "schemas/json_text.h"
#include "schemas/padded_json.h"
#include "schemas/usage_event_text.h"

namespace tally {
namespace json = boost::json;
namespace od = simdjson::ondemand;

namespace {

class decode_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tally.decode"; }
  std::string message(int ev) const override {
    switch (static_cast<decode_errc>(ev)) {
      case decode_errc::ok:
        return "ok";
      case decode_errc::malformed_json:
        return "malformed JSON";
      case decode_errc::not_cloudevent:
        return "not a CloudEvent";
      case decode_errc::unknown_type:
        return "unknown event type";
      case decode_errc::bad_field:
        return "missing or invalid field";
    }
    return "unknown decode error";
  }
};

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
// The deduction guide C++20 makes implicit; clang 14 (the fuzz build) still needs it.
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// --- writing ------------------------------------------------------------------------------

void put_limit_set(json::object& o, const limit_set& l) {
  auto money = [&](const char* k, const std::optional<nanos>& v) {
    if (v) o[k] = v->count;
  };
  auto count = [&](const char* k, const std::optional<std::int64_t>& v) {
    if (v) o[k] = *v;
  };
  money("cost_per_day_nanos", l.cost_per_day);
  money("cost_per_month_nanos", l.cost_per_month);
  money("cost_per_run_nanos", l.cost_per_run);
  count("tokens_per_day", l.tokens_per_day);
  count("tokens_per_month", l.tokens_per_month);
  count("tokens_per_run", l.tokens_per_run);
  count("max_concurrent_sessions", l.max_concurrent_sessions);
}

void put_tokens(json::object& o, const token_counts& t) {
  o["input_tokens"] = t.input;
  o["output_tokens"] = t.output;
  o["cache_creation_input_tokens"] = t.cache_creation;
  o["cache_read_input_tokens"] = t.cache_read;
}

json::object data_of(const event_payload& p) {
  json::object o;
  std::visit(overloaded{
                 [&](const team_created& e) {
                   o["team_id"] = e.team.str();
                   o["name"] = e.name;
                   o["timezone"] = e.timezone;
                 },
                 [&](const agent_registered& e) {
                   o["team_id"] = e.team.str();
                   o["agent_id"] = e.agent.str();
                   o["name"] = e.name;
                   o["type"] = e.type;
                 },
                 [&](const task_created& e) {
                   o["team_id"] = e.team.str();
                   o["task_id"] = e.task.str();
                   o["title"] = e.title;
                   o["priority"] = e.priority;
                   o["task_type"] = e.task_type;
                   json::array tags;
                   for (auto& t : e.tags) tags.emplace_back(t);
                   o["tags"] = std::move(tags);
                   if (e.budget) o["budget_nanos"] = e.budget->count;
                 },
                 [&](const limits_set& e) {
                   o["team_id"] = e.team.str();
                   o["scope"] = e.scope == limit_scope::global ? "global"
                                : e.scope == limit_scope::team ? "team"
                                                               : "agent";
                   o["scope_id"] = e.scope_id;
                   json::object l;
                   put_limit_set(l, e.limits);
                   o["limits"] = std::move(l);
                 },
                 [&](const session_opened& e) {
                   o["team_id"] = e.team.str();
                   o["agent_id"] = e.agent.str();
                   o["session_id"] = e.session.str();
                   o["task_id"] = e.task.str();
                   o["model"] = e.model;
                   o["effort"] = e.effort;
                   if (e.queued) o["status"] = "queued";
                 },
                 [&](const session_activated& e) {
                   o["team_id"] = e.team.str();
                   o["session_id"] = e.session.str();
                 },
                 [&](const reservation_held& e) {
                   o["team_id"] = e.team.str();
                   o["reservation_id"] = e.reservation;
                   o["session_id"] = e.session.str();
                   o["agent_id"] = e.agent.str();
                   o["task_id"] = e.task.str();
                   o["amount_nanos"] = e.amount.count;
                   o["expires_at"] = format_rfc3339(e.expires_at);
                   if (!e.request_hash.empty()) o["request_hash"] = e.request_hash;
                 },
                 [&](const reservation_released& e) {
                   o["team_id"] = e.team.str();
                   o["reservation_id"] = e.reservation;
                   o["session_id"] = e.session.str();
                   o["reason"] = e.reason;
                   if (e.actual) o["actual_nanos"] = e.actual->count;
                   if (!e.usage_event.empty()) o["usage_event_id"] = e.usage_event.str();
                 },
                 [&](const session_ended& e) {
                   o["team_id"] = e.team.str();
                   o["session_id"] = e.session.str();
                   o["status"] = to_string(e.status);
                 },
                 [&](const session_terminated& e) {
                   o["team_id"] = e.team.str();
                   o["session_id"] = e.session.str();
                   o["reason"] = e.reason;
                 },
                 [&](const budget_threshold_crossed& e) { o = alert_data(e); },
                 [&](const budget_threshold_resolved& e) { o = alert_data(e); },
                 [&](const alert_acknowledged& e) { o = alert_data(e); },
                 [&](const alert_thresholds_set& e) { o = alert_data(e); },
                 [&](const insight_dismissed& e) { o = insight_data(e); },
                 [&](const usage_decided& e) {
                   // A field at its default ("" or 0) is left out: absent reads as the default.
                   auto text = [&](std::string_view k, const std::string& v) {
                     if (!v.empty()) o[k] = v;
                   };
                   auto count = [&](std::string_view k, std::int64_t v) {
                     if (v != 0) o[k] = v;
                   };
                   o["team_id"] = e.team.str();
                   text("agent_id", e.agent.str());
                   text("session_id", e.session.str());
                   text("task_id", e.task.str());
                   o["model"] = e.model;
                   text("effort", e.effort);
                   o["input_tokens"] = e.tokens.input;
                   o["output_tokens"] = e.tokens.output;
                   count("cache_creation_input_tokens", e.tokens.cache_creation);
                   count("cache_read_input_tokens", e.tokens.cache_read);
                   o["cost_nanos"] = e.cost.count;
                   o["cost_source"] = to_string(e.source);
                   text("price_version", e.price_version);
                   o["occurred_at"] = format_rfc3339(e.occurred_at);
                   o["day"] = e.day;
                   o["month"] = e.month;
                   o["over_budget"] = e.over_budget;
                   o["action"] = e.stop ? "stop" : "continue";
                   text("reason", e.reason);
                   count("epoch", e.epoch);
                   if (e.report) {
                     o["report_partition"] = e.report->partition;
                     o["report_offset"] = e.report->offset;
                   }
                   if (!e.request_hash.empty()) o["request_hash"] = e.request_hash;
                 },
             },
             p);
  return o;
}

// --- reading ------------------------------------------------------------------------------

// Reads the fields of one JSON object by name; each reader returns false on a bad value.
struct field_error {};

std::string_view get_string(od::value v) {
  std::string_view s;
  if (v.get_string().get(s)) throw field_error{};
  return s;
}

std::int64_t get_int(od::value v) {
  std::int64_t i;
  if (v.get_int64().get(i)) throw field_error{};
  return i;
}

std::int64_t get_count(od::value v) {
  auto i = get_int(v);
  if (i < 0) throw field_error{};
  return i;
}

bool get_bool(od::value v) {
  bool b;
  if (v.get_bool().get(b)) throw field_error{};
  return b;
}

template <class Id>
Id get_id(od::value v, bool allow_empty = true) {
  auto s = get_string(v);
  if (s.empty() ? !allow_empty : !valid_id(s)) throw field_error{};
  return Id{s};
}

// A number given either as JSON number or as a string holding one (ids like task 594).
// The text of a number token as it stands in the document (simdjson leaves trailing
// whitespace on it); money is parsed from this text, never through binary floating point.
std::string_view raw_number(od::value v) {
  od::json_type t;
  if (v.type().get(t) || t != od::json_type::number) throw field_error{};
  std::string_view raw = v.raw_json_token();
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r'))
    raw.remove_suffix(1);
  return raw;
}

template <class Id>
Id get_id_or_number(od::value v) {
  od::json_type t;
  if (v.type().get(t)) throw field_error{};
  if (t == od::json_type::number) {
    auto raw = raw_number(v);
    if (!valid_id(raw)) throw field_error{};
    return Id{raw};
  }
  return get_id<Id>(v);
}

template <class F>
void for_each_field(od::object obj, F&& f) {
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) throw field_error{};
    f(key, field.value());
  }
}

limit_set read_limit_set(od::object obj) {
  limit_set l;
  for_each_field(obj, [&](std::string_view k, od::value v) {
    if (k == "cost_per_day_nanos")
      l.cost_per_day = nanos{get_count(v)};
    else if (k == "cost_per_month_nanos")
      l.cost_per_month = nanos{get_count(v)};
    else if (k == "cost_per_run_nanos")
      l.cost_per_run = nanos{get_count(v)};
    else if (k == "tokens_per_day")
      l.tokens_per_day = get_count(v);
    else if (k == "tokens_per_month")
      l.tokens_per_month = get_count(v);
    else if (k == "tokens_per_run")
      l.tokens_per_run = get_count(v);
    else if (k == "max_concurrent_sessions")
      l.max_concurrent_sessions = get_count(v);
  });
  return l;
}

session_status parse_status(std::string_view s) {
  if (s == "active") return session_status::active;
  if (s == "queued") return session_status::queued;
  if (s == "completed") return session_status::completed;
  if (s == "failed") return session_status::failed;
  if (s == "terminated") return session_status::terminated;
  throw field_error{};
}

cost_source parse_cost_source(std::string_view s) {
  if (s == "reported") return cost_source::reported;
  if (s == "computed") return cost_source::computed;
  if (s == "unpriced") return cost_source::unpriced;
  throw field_error{};
}

// The hottest decoder (every usage event of the fold): keys are dispatched by length first, so
// each field costs one or two comparisons. Unknown keys are ignored, as everywhere.
void read_usage(od::object obj, usage_decided& e) {
  bool has_team = false;
  for_each_field(obj, [&](std::string_view k, od::value v) {
    switch (k.size()) {
      case 3:
        if (k == "day") e.day = get_string(v);
        break;
      case 5:
        if (k == "model")
          e.model = get_string(v);
        else if (k == "month")
          e.month = get_string(v);
        else if (k == "epoch")
          e.epoch = get_int(v);
        break;
      case 6:
        if (k == "effort")
          e.effort = get_string(v);
        else if (k == "action")
          e.stop = get_string(v) == "stop";
        else if (k == "reason")
          e.reason = get_string(v);
        break;
      case 7:
        if (k == "team_id") {
          e.team = get_id<team_id>(v, false);
          has_team = true;
        } else if (k == "task_id") {
          e.task = get_id<task_id>(v);
        }
        break;
      case 8:
        if (k == "agent_id") e.agent = get_id<agent_id>(v);
        break;
      case 10:
        if (k == "session_id")
          e.session = get_id<session_id>(v);
        else if (k == "cost_nanos")
          e.cost = nanos{get_count(v)};
        break;
      case 11:
        if (k == "cost_source") {
          e.source = parse_cost_source(get_string(v));
        } else if (k == "occurred_at") {
          auto t = parse_rfc3339(get_string(v));
          if (!t) throw field_error{};
          e.occurred_at = *t;
        } else if (k == "over_budget") {
          e.over_budget = get_bool(v);
        }
        break;
      case 12:
        if (k == "input_tokens") {
          e.tokens.input = get_count(v);
        } else if (k == "request_hash") {
          e.request_hash = get_string(v);
        }
        break;
      case 13:
        if (k == "output_tokens") {
          e.tokens.output = get_count(v);
        } else if (k == "price_version") {
          e.price_version = get_string(v);
        } else if (k == "report_offset") {
          if (!e.report) e.report.emplace();
          e.report->offset = get_int(v);
        }
        break;
      case 16:
        if (k == "report_partition") {
          if (!e.report) e.report.emplace();
          e.report->partition = static_cast<std::int32_t>(get_int(v));
        }
        break;
      case 23:
        if (k == "cache_read_input_tokens") e.tokens.cache_read = get_count(v);
        break;
      case 27:
        if (k == "cache_creation_input_tokens") e.tokens.cache_creation = get_count(v);
        break;
    }
  });
  if (!has_team || e.day.size() != 10 || e.month.size() != 7) throw field_error{};
}

// The alert and insight events (rare) are read through Boost.JSON from the data object's text.
event_payload read_alert_payload(std::string_view type, od::object obj) {
  std::string_view raw;
  if (obj.raw_json().get(raw)) throw field_error{};
  boost::system::error_code ec;
  auto v = json::parse(raw, ec);
  if (ec || !v.is_object()) throw field_error{};
  try {
    const auto& o = v.get_object();
    if (type == "tally.budget_threshold_crossed.v1") return read_threshold_crossed(o);
    if (type == "tally.budget_threshold_resolved.v1") return read_threshold_resolved(o);
    if (type == "tally.alert_acknowledged.v1") return read_alert_acknowledged(o);
    if (type == "tally.alert_thresholds_set.v1") return read_alert_thresholds_set(o);
    if (type == "tally.insight_dismissed.v1") return read_insight_dismissed(o);
  } catch (const std::invalid_argument&) {
    throw field_error{};
  }
  throw decode_errc::unknown_type;
}

event_payload read_payload(std::string_view type, od::object obj) {
  auto team_only = [&](auto& e, auto&& more) {
    bool has_team = false;
    for_each_field(obj, [&](std::string_view k, od::value v) {
      if (k == "team_id") {
        e.team = get_id<team_id>(v, false);
        has_team = true;
      } else {
        more(k, v);
      }
    });
    if (!has_team) throw field_error{};
  };
  if (type == "tally.usage_recorded.v1") {
    usage_recorded e;
    read_usage(obj, e);
    return e;
  }
  if (type == "tally.usage_rejected.v1") {
    usage_rejected e;
    read_usage(obj, e);
    return e;
  }
  if (type == "tally.team_created.v1") {
    team_created e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "name")
        e.name = get_string(v);
      else if (k == "timezone")
        e.timezone = get_string(v);
    });
    return e;
  }
  if (type == "tally.agent_registered.v1") {
    agent_registered e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "agent_id")
        e.agent = get_id<agent_id>(v, false);
      else if (k == "name")
        e.name = get_string(v);
      else if (k == "type")
        e.type = get_string(v);
    });
    if (e.agent.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.task_created.v1") {
    task_created e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "task_id")
        e.task = get_id_or_number<task_id>(v);
      else if (k == "title")
        e.title = get_string(v);
      else if (k == "priority")
        e.priority = get_string(v);
      else if (k == "task_type")
        e.task_type = get_string(v);
      else if (k == "budget_nanos")
        e.budget = nanos{get_count(v)};
      else if (k == "tags") {
        od::array a;
        if (v.get_array().get(a)) throw field_error{};
        for (auto t : a) {
          od::value tv;
          if (t.get(tv)) throw field_error{};
          e.tags.emplace_back(get_string(tv));
        }
      }
    });
    if (e.task.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.limits_set.v1") {
    limits_set e;
    for_each_field(obj, [&](std::string_view k, od::value v) {
      if (k == "team_id")
        e.team = get_id<team_id>(v);
      else if (k == "scope") {
        auto s = get_string(v);
        if (s == "global")
          e.scope = limit_scope::global;
        else if (s == "team")
          e.scope = limit_scope::team;
        else if (s == "agent")
          e.scope = limit_scope::agent;
        else
          throw field_error{};
      } else if (k == "scope_id")
        e.scope_id = get_string(v);
      else if (k == "limits") {
        od::object l;
        if (v.get_object().get(l)) throw field_error{};
        e.limits = read_limit_set(l);
      }
    });
    return e;
  }
  if (type == "tally.session_opened.v1") {
    session_opened e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "agent_id")
        e.agent = get_id<agent_id>(v, false);
      else if (k == "session_id")
        e.session = get_id<session_id>(v, false);
      else if (k == "task_id")
        e.task = get_id_or_number<task_id>(v);
      else if (k == "model")
        e.model = get_string(v);
      else if (k == "effort")
        e.effort = get_string(v);
      else if (k == "status") {
        auto st = get_string(v);
        if (st != "queued" && st != "active") throw field_error{};
        e.queued = st == "queued";
      }
    });
    // agent_id is required (schema): without it the event encoded back would not decode
    // (found by tests/fuzz/fuzz_decoders).
    if (e.session.empty() || e.agent.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.session_activated.v1") {
    session_activated e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "session_id") e.session = get_id<session_id>(v, false);
    });
    if (e.session.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.reservation_held.v1") {
    reservation_held e;
    bool has_expiry = false;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "reservation_id")
        e.reservation = get_id<event_id>(v, false).str();
      else if (k == "session_id")
        e.session = get_id<session_id>(v, false);
      else if (k == "agent_id")
        e.agent = get_id<agent_id>(v);
      else if (k == "task_id")
        e.task = get_id<task_id>(v);
      else if (k == "amount_nanos")
        e.amount = nanos{get_count(v)};
      else if (k == "expires_at") {
        auto t = parse_rfc3339(get_string(v));
        if (!t) throw field_error{};
        e.expires_at = *t;
        has_expiry = true;
      } else if (k == "request_hash")
        e.request_hash = get_string(v);
    });
    if (e.reservation.empty() || e.session.empty() || !has_expiry) throw field_error{};
    return e;
  }
  if (type == "tally.reservation_released.v1") {
    reservation_released e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "reservation_id")
        e.reservation = get_id<event_id>(v, false).str();
      else if (k == "session_id")
        e.session = get_id<session_id>(v, false);
      else if (k == "reason")
        e.reason = get_string(v);
      else if (k == "actual_nanos")
        e.actual = nanos{get_count(v)};
      else if (k == "usage_event_id")
        e.usage_event = get_id<event_id>(v);
    });
    if (e.reservation.empty() || e.session.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.session_ended.v1") {
    session_ended e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "session_id")
        e.session = get_id<session_id>(v, false);
      else if (k == "status")
        e.status = parse_status(get_string(v));
    });
    if (e.session.empty()) throw field_error{};
    return e;
  }
  if (type == "tally.session_terminated.v1") {
    session_terminated e;
    team_only(e, [&](std::string_view k, od::value v) {
      if (k == "session_id")
        e.session = get_id<session_id>(v, false);
      else if (k == "reason")
        e.reason = get_string(v);
    });
    if (e.session.empty()) throw field_error{};
    return e;
  }
  if (type.starts_with("tally.budget_threshold_") || type.starts_with("tally.alert_") ||
      type == "tally.insight_dismissed.v1") {
    return read_alert_payload(type, obj);
  }
  throw decode_errc::unknown_type;
}

// Two parsers per thread: an event's data object is parsed again while its envelope's
// document is still read.
padded_parser& parsers(int which) {
  thread_local padded_parser p[2];
  return p[which];
}

}  // namespace

const boost::system::error_category& decode_category() noexcept {
  static const decode_category_impl instance;
  return instance;
}

std::string_view to_string(session_status s) {
  switch (s) {
    case session_status::active:
      return "active";
    case session_status::queued:
      return "queued";
    case session_status::completed:
      return "completed";
    case session_status::failed:
      return "failed";
    case session_status::terminated:
      return "terminated";
  }
  return "unknown";
}

std::string_view to_string(cost_source s) {
  switch (s) {
    case cost_source::reported:
      return "reported";
    case cost_source::computed:
      return "computed";
    case cost_source::unpriced:
      return "unpriced";
  }
  return "unknown";
}

std::string_view event_type_name(const event_payload& p) {
  return std::visit(
      overloaded{
          [](const team_created&) { return "tally.team_created.v1"; },
          [](const agent_registered&) { return "tally.agent_registered.v1"; },
          [](const task_created&) { return "tally.task_created.v1"; },
          [](const limits_set&) { return "tally.limits_set.v1"; },
          [](const session_opened&) { return "tally.session_opened.v1"; },
          [](const session_ended&) { return "tally.session_ended.v1"; },
          [](const session_terminated&) { return "tally.session_terminated.v1"; },
          [](const usage_recorded&) { return "tally.usage_recorded.v1"; },
          [](const usage_rejected&) { return "tally.usage_rejected.v1"; },
          [](const budget_threshold_crossed&) { return "tally.budget_threshold_crossed.v1"; },
          [](const budget_threshold_resolved&) { return "tally.budget_threshold_resolved.v1"; },
          [](const alert_acknowledged&) { return "tally.alert_acknowledged.v1"; },
          [](const alert_thresholds_set&) { return "tally.alert_thresholds_set.v1"; },
          [](const session_activated&) { return "tally.session_activated.v1"; },
          [](const reservation_held&) { return "tally.reservation_held.v1"; },
          [](const reservation_released&) { return "tally.reservation_released.v1"; },
          [](const insight_dismissed&) { return "tally.insight_dismissed.v1"; },
      },
      p);
}

const team_id& event_team(const event& e) {
  return std::visit([](const auto& p) -> const team_id& { return p.team; }, e.payload);
}

std::string encode_limit_set(const limit_set& l) {
  json::object o;
  put_limit_set(o, l);
  return json::serialize(o);
}

boost::system::result<limit_set> decode_limit_set(std::string_view text) {
  auto& tp = parsers(0);
  try {
    od::document doc;
    if (tp.parser.iterate(tp.pad(text)).get(doc)) return decode_errc::malformed_json;
    od::object obj;
    if (doc.get_object().get(obj)) return decode_errc::bad_field;
    return read_limit_set(obj);
  } catch (field_error) {
    return decode_errc::bad_field;
  } catch (const simdjson::simdjson_error&) {
    return decode_errc::malformed_json;
  }
}

std::string encode_event(const event& e) {
  std::string out;
  out.reserve(640);
  append_event(out, e);
  return out;
}

void append_event(std::string& out, const event& e) {
  // The envelope and a usage payload are written directly (one per report on the hot path);
  // the other payloads go through Boost.JSON. Field order is fixed: "type" before "data".
  out.append(R"({"specversion":"1.0","id":)");
  append_json_string(out, e.id.str());
  out.append(R"(,"source":)");
  append_json_string(out, e.source);
  out.append(R"(,"type":)");
  append_json_string(out, event_type_name(e.payload));
  out.append(R"(,"time":")");
  append_rfc3339(out, e.time);  // nothing in it to escape
  out.append(R"(","subject":)");
  append_json_string(out, event_team(e).str());
  out.append(R"(,"data":)");
  if (auto* u = std::get_if<usage_recorded>(&e.payload)) {
    append_usage_data(out, *u);
  } else if (auto* r = std::get_if<usage_rejected>(&e.payload)) {
    append_usage_data(out, *r);
  } else {
    out.append(json::serialize(data_of(e.payload)));
  }
  out.push_back('}');
}

namespace {
constexpr std::string_view event_head = R"({"specversion":"1.0","id":")";
}  // namespace

std::optional<std::string_view> encoded_event_id(std::string_view json) {
  if (!json.starts_with(event_head)) return std::nullopt;
  const auto rest = json.substr(event_head.size());
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const auto c = static_cast<unsigned char>(rest[i]);
    if (c == '"') return rest.substr(0, i);
    if (c == '\\' || c < 0x20) return std::nullopt;
  }
  return std::nullopt;
}

std::string encode_event_with_boost_json(const event& e) {
  json::object o;
  o["specversion"] = "1.0";
  o["id"] = e.id.str();
  o["source"] = e.source;
  o["type"] = event_type_name(e.payload);
  o["time"] = format_rfc3339(e.time);
  o["subject"] = event_team(e).str();
  o["data"] = data_of(e.payload);
  return json::serialize(o);
}

namespace {

// in_place: when "type" precedes "data" (as encode_event writes them), the data object is read
// where it stands instead of being copied and parsed a second time. Any failure on that path
// is answered by the copying path, so errors are exactly those of the copying path.
boost::system::result<event> decode_event_impl(std::string_view text, bool in_place,
                                               bool& in_place_used) {
  auto& tp = parsers(0);
  try {
    od::document doc;
    if (tp.parser.iterate(tp.pad(text)).get(doc)) return decode_errc::malformed_json;
    od::object obj;
    if (auto err = doc.get_object().get(obj)) {
      return err == simdjson::INCORRECT_TYPE ? decode_errc::not_cloudevent
                                             : decode_errc::malformed_json;
    }
    event e;
    std::string type;
    std::string_view data_raw;
    bool has_spec = false;
    bool payload_read = false;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return decode_errc::malformed_json;
      od::value v;
      if (field.value().get(v)) return decode_errc::malformed_json;
      if (key == "specversion")
        has_spec = get_string(v) == "1.0";
      else if (key == "id")
        e.id = event_id{get_string(v)};
      else if (key == "source")
        e.source = get_string(v);
      else if (key == "type") {
        if (payload_read) return decode_errc::not_cloudevent;  // retried by the copying path
        type = get_string(v);
      } else if (key == "time") {
        auto t = parse_rfc3339(get_string(v));
        if (!t) return decode_errc::bad_field;
        e.time = *t;
      } else if (key == "data") {
        od::object d;
        if (v.get_object().get(d)) return decode_errc::bad_field;
        if (in_place && !type.empty()) {
          in_place_used = true;
          e.payload = read_payload(type, d);
          payload_read = true;
          data_raw = "{}";  // present
        } else {
          payload_read = false;
          if (d.raw_json().get(data_raw)) return decode_errc::malformed_json;
        }
      }
    }
    if (!has_spec || e.id.empty() || type.empty() || data_raw.empty()) {
      return decode_errc::not_cloudevent;
    }
    if (payload_read) return e;
    // The data object lies inside the padded buffer, so it can be iterated in place.
    auto& dp = parsers(1);
    od::document ddoc;
    if (dp.parser.iterate(dp.pad(data_raw)).get(ddoc)) return decode_errc::malformed_json;
    od::object dobj;
    if (ddoc.get_object().get(dobj)) return decode_errc::bad_field;
    e.payload = read_payload(type, dobj);
    return e;
  } catch (field_error) {
    return decode_errc::bad_field;
  } catch (decode_errc ec) {
    return ec;
  } catch (const simdjson::simdjson_error&) {
    return decode_errc::malformed_json;
  }
}

}  // namespace

boost::system::result<event> decode_event(std::string_view text) {
  bool in_place_used = false;
  auto r = decode_event_impl(text, true, in_place_used);
  if (r || !in_place_used) return r;
  return decode_event_impl(text, false, in_place_used);
}

std::string encode_event_batch(const std::vector<event>& events) {
  std::string out;
  out.reserve(events.size() * 700 + 2);
  out.push_back('[');
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_event(out, events[i]);
  }
  out.push_back(']');
  return out;
}

std::optional<std::string_view> encoded_batch_first_id(std::string_view json) {
  if (!json.starts_with('[')) return std::nullopt;
  return encoded_event_id(json.substr(1));
}

boost::system::result<std::vector<event>> decode_ledger_record(std::string_view text) {
  std::vector<event> out;
  constexpr std::string_view space = " \t\r\n";
  const auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos || text[first] != '[') {
    auto e = decode_event(text);
    if (!e) return e.error();
    out.push_back(std::move(*e));
    return out;
  }
  // The elements of the array, cut where a top-level object ends (strings and nesting skipped);
  // each is then decoded as one event.
  std::size_t i = first + 1;
  auto skip_space = [&] { i = std::min(text.find_first_not_of(space, i), text.size()); };
  for (;;) {
    skip_space();
    if (i >= text.size() || text[i] != '{') return decode_errc::malformed_json;
    const std::size_t start = i;
    int depth = 0;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '"') {
        for (++i; i < text.size() && text[i] != '"'; ++i) {
          if (text[i] == '\\') ++i;
        }
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    if (i >= text.size()) return decode_errc::malformed_json;
    auto e = decode_event(text.substr(start, i + 1 - start));
    if (!e) return e.error();
    out.push_back(std::move(*e));
    ++i;
    skip_space();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == ']') break;
    return decode_errc::malformed_json;
  }
  ++i;
  skip_space();
  if (i != text.size()) return decode_errc::malformed_json;
  return out;
}

boost::system::result<usage_report> decode_usage_report(std::string_view text) {
  auto& tp = parsers(0);
  try {
    od::document doc;
    if (tp.parser.iterate(tp.pad(text)).get(doc)) return decode_errc::malformed_json;
    od::object obj;
    if (auto err = doc.get_object().get(obj)) {
      return err == simdjson::INCORRECT_TYPE ? decode_errc::bad_field : decode_errc::malformed_json;
    }
    usage_report r;
    // The seed spec's column names (tokens_input / tokens_output); every other token field,
    // in either shape, is read by parse_usage_fields_json below.
    std::optional<std::int64_t> seed_input, seed_output;
    bool cloudevent = false;
    std::string_view data_raw;
    for_each_field(obj, [&](std::string_view k, od::value v) {
      if (k == "specversion")
        cloudevent = true;
      else if (k == "data") {
        od::object d;
        if (v.get_object().get(d) || d.raw_json().get(data_raw)) throw field_error{};
      } else if (k == "event_id" || (k == "id"))
        r.id = get_id<event_id>(v);
      else if (k == "team_id" || k == "project_id" || k == "workspace_id")
        r.team = get_id<team_id>(v, false);
      else if (k == "agent_id")
        r.agent = get_id<agent_id>(v, false);
      else if (k == "session_id" || k == "run_id")
        r.session = get_id_or_number<session_id>(v);
      else if (k == "task_id")
        r.task = get_id_or_number<task_id>(v);
      else if (k == "model")
        r.model = get_string(v);
      else if (k == "effort")
        r.effort = get_string(v);
      else if (k == "reservation_id")
        r.reservation = get_id<event_id>(v).str();
      else if (k == "cost_usd") {
        auto m = parse_usd(raw_number(v));
        if (!m || m->count < 0) throw field_error{};
        r.cost = *m;
      } else if (k == "time" || k == "occurred_at" || k == "created_at") {
        auto t = parse_rfc3339(get_string(v));
        if (!t) throw field_error{};
        r.occurred_at = *t;
      } else if (k == "tokens_input")
        seed_input = get_count(v);
      else if (k == "tokens_output")
        seed_output = get_count(v);
    });
    if (cloudevent) {
      if (data_raw.empty()) return decode_errc::bad_field;
      std::string inner(data_raw);
      auto id = r.id;
      auto t = r.occurred_at;
      auto res = decode_usage_report(inner);
      if (!res) return res;
      if (res->id.empty()) res->id = id;
      if (!res->occurred_at) res->occurred_at = t;
      return res;
    }
    if (r.team.empty() || r.agent.empty()) return decode_errc::bad_field;
    auto raw = parse_usage_fields_json(text);
    if (!raw) return decode_errc::bad_field;
    if (seed_input && !raw->input_tokens && !raw->prompt_tokens) raw->input_tokens = seed_input;
    if (seed_output && !raw->output_tokens && !raw->completion_tokens) {
      raw->output_tokens = seed_output;
    }
    auto tokens = normalise_usage(*raw);
    if (!tokens) return decode_errc::bad_field;
    r.tokens = *tokens;
    return r;
  } catch (field_error) {
    return decode_errc::bad_field;
  } catch (const simdjson::simdjson_error&) {
    return decode_errc::malformed_json;
  }
}

std::string encode_usage_report(const usage_report& r) {
  json::object o;
  if (!r.id.empty()) o["event_id"] = r.id.str();
  o["team_id"] = r.team.str();
  o["agent_id"] = r.agent.str();
  if (!r.session.empty()) o["session_id"] = r.session.str();
  if (!r.task.empty()) o["task_id"] = r.task.str();
  o["model"] = r.model;
  if (!r.effort.empty()) o["effort"] = r.effort;
  if (!r.reservation.empty()) o["reservation_id"] = r.reservation;
  put_tokens(o, r.tokens);
  std::string out = json::serialize(o);
  std::string extra;
  if (r.cost) extra += ",\"cost_usd\":" + format_usd(*r.cost);
  if (r.occurred_at) extra += ",\"time\":\"" + format_rfc3339(*r.occurred_at) + "\"";
  out.insert(out.size() - 1, extra);
  return out;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '/' || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace tally
