#include "projections/ledger_state.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <boost/json.hpp>

#include "projections/insight_state.h"
#include "projections/reservations.h"
#include "projections/slots.h"
#include "projections/usage_blocks.h"
#include "projections/usage_log.h"

namespace tally {
namespace json = boost::json;

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
// The deduction guide C++20 makes implicit; clang 14 (the fuzz build) still needs it.
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

std::string str_of(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t int_of(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->get_int64() : 0;
}

std::optional<json::object> parse_object(const std::string& s) {
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool decode_decimal(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string day_of_utc(time_ms t) {
  return format_rfc3339(t).substr(0, 10);
}

void get_opt(const json::object& o, const char* k, std::optional<nanos>& v) {
  if (auto* x = o.if_contains(k); x && x->is_int64()) v = nanos{x->get_int64()};
}

std::string encode_session(const session_record& s) {
  json::object o;
  o["agent_id"] = s.agent.str();
  o["task_id"] = s.task.str();
  o["model"] = s.model;
  o["effort"] = s.effort;
  o["status"] = to_string(s.status);
  o["opened_at"] = s.opened_at;
  o["ended_at"] = s.ended_at;
  o["reason"] = s.reason;
  return json::serialize(o);
}

std::string encode_task(const task_record& t) {
  json::object o;
  o["title"] = t.title;
  o["priority"] = t.priority;
  o["task_type"] = t.task_type;
  json::array tags;
  for (auto& tag : t.tags) tags.emplace_back(tag);
  o["tags"] = std::move(tags);
  if (t.budget) o["budget_nanos"] = t.budget->count;
  return json::serialize(o);
}

session_status status_of(std::string_view s) {
  for (auto st : {session_status::active, session_status::queued, session_status::completed,
                  session_status::failed, session_status::terminated}) {
    if (to_string(st) == s) return st;
  }
  return session_status::active;
}

}  // namespace

bool apply_to_session(session_record& s, bool exists, const event& e) {
  const bool open = s.status == session_status::active || s.status == session_status::queued;
  if (auto* p = std::get_if<session_opened>(&e.payload)) {
    if (!exists) s.status = p->queued ? session_status::queued : session_status::active;
    s.agent = p->agent;
    s.task = p->task;
    s.model = p->model;
    s.effort = p->effort;
    s.opened_at = e.time;
    return true;
  }
  if (auto* p = std::get_if<session_ended>(&e.payload)) {
    if (!open) return false;
    s.status = p->status;
    s.ended_at = e.time;
    return true;
  }
  if (auto* p = std::get_if<session_terminated>(&e.payload)) {
    if (!open) return false;
    s.status = session_status::terminated;
    s.ended_at = e.time;
    s.reason = p->reason;
    return true;
  }
  if (std::get_if<session_activated>(&e.payload)) {
    if (s.status != session_status::queued) return false;
    s.status = session_status::active;
    return true;
  }
  return false;
}

task_record task_of(const task_created& p) {
  return task_record{p.title, p.priority, p.task_type, p.tags, p.budget};
}

std::string scope_team(const team_id& t) {
  return "t/" + t.str();
}
std::string scope_agent(const team_id& t, const agent_id& a) {
  return "a/" + t.str() + "/" + a.str();
}
std::string scope_task(const team_id& t, const task_id& k) {
  return "k/" + t.str() + "/" + k.str();
}
std::string scope_session(const team_id& t, const session_id& s) {
  return "s/" + t.str() + "/" + s.str();
}

namespace {

// Appends s with '%' and '/' escaped (as escape_component), without a temporary.
void append_escaped(std::string& out, std::string_view s) {
  if (s.find_first_of("%/") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.append(escape_component(s));
}

// The totals rows of a decided usage event, in a fixed order, built in one reused buffer: f
// receives the key (valid during the call only) and the delta.
// What one decided usage event adds to each of its rows.
totals delta_of(const usage_decided& u, bool rejected) {
  totals d;
  if (rejected) {
    d.rejected_cost_nanos = u.cost.count;
    d.rejected_events = 1;
  } else {
    d.cost_nanos = u.cost.count;
    d.input_tokens = u.tokens.input;
    d.output_tokens = u.tokens.output;
    d.cache_creation_tokens = u.tokens.cache_creation;
    d.cache_read_tokens = u.tokens.cache_read;
    d.events = 1;
    d.unpriced_events = u.source == cost_source::unpriced ? 1 : 0;
  }
  return d;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - (a % b < 0 ? 1 : 0);
}

// Which rows visit_totals reaches: the org/team/agent/model/effort rows of the day and month
// (the same for every event of those dimensions), the task and session lifetime rows, or both.
enum class row_kind { dimensions = 1, lifetime = 2, all = 3 };

template <class F>
void visit_totals(const usage_decided& u, bool rejected, std::string& key, F&& f,
                  row_kind which = row_kind::all) {
  const totals d = delta_of(u, rejected);
  const std::string& team = u.team.str();
  auto emit = [&](char window, std::string_view period) {
    const std::size_t n = key.size();
    key.push_back('/');
    key.push_back(window);
    key.push_back('/');
    key.append(period);
    f(key, d);
    key.resize(n);
  };
  auto both = [&] {
    emit(window_day, u.day);
    emit(window_month, u.month);
  };
  // Org-wide rows are kept in UTC periods: teams' zones differ.
  const utc_day utc = utc_day_of(u.occurred_at);
  auto both_utc = [&] {
    emit(window_day, utc.day());
    emit(window_month, utc.month());
  };
  const bool dimensions = static_cast<int>(which) & static_cast<int>(row_kind::dimensions);
  const bool lifetime = static_cast<int>(which) & static_cast<int>(row_kind::lifetime);
  if (dimensions) {
    key.assign("g");
    both_utc();
    key.assign("gm/");
    append_escaped(key, u.model);
    both_utc();
    key.assign("t/");
    key.append(team);
    both();
    if (!u.agent.empty()) {
      key.assign("a/");
      key.append(team).push_back('/');
      key.append(u.agent.str());
      both();
    }
    key.assign("m/");
    key.append(team).push_back('/');
    append_escaped(key, u.model);
    both();
    if (!u.effort.empty()) {
      key.assign("e/");
      key.append(team).push_back('/');
      append_escaped(key, u.effort);
      both();
    }
  }
  if (!lifetime) return;
  if (!u.task.empty()) {
    key.assign("k/");
    key.append(team).push_back('/');
    key.append(u.task.str());
    emit(window_lifetime, "-");
  }
  if (!u.session.empty()) {
    key.assign("s/");
    key.append(team).push_back('/');
    key.append(u.session.str());
    emit(window_lifetime, "-");
  }
}

}  // namespace

void for_each_total(const usage_decided& u, bool rejected,
                    const std::function<void(const std::string&, const totals&)>& f) {
  std::string key;
  key.reserve(64);
  visit_totals(u, rejected, key, f);
}

ledger_state::totals_map::value_type& ledger_state::load_totals_row(std::string_view key) {
  auto it = totals_.find(key);
  if (it != totals_.end()) return *it;
  totals_entry e;
  if (source_) {
    if (auto v = source_->get(column::totals, key)) decode_totals(*v, e.value);
  }
  return *totals_.emplace(std::string(key), e).first;
}

void ledger_state::add_to(totals_map::value_type& row, const totals& delta) {
  row.second.value += delta;
  if (!row.second.dirty) {
    row.second.dirty = true;
    dirty_totals_.push_back(row.first);
  }
}

const totals& ledger_state::get_totals(std::string_view key) {
  return load_totals(key).value;
}

void ledger_state::add_totals(std::string_view key, const totals& delta) {
  add_to(load_totals_row(key), delta);
}

ledger_state::row& ledger_state::load(column cf, std::string_view key) {
  auto& m = rows_[static_cast<int>(cf)];
  auto it = m.find(key);
  if (it != m.end()) return it->second;
  row r;
  if (source_) {
    if (auto v = source_->get(cf, key)) {
      r.value = std::move(*v);
      r.present = true;
    }
  }
  return m.emplace(std::string(key), std::move(r)).first->second;
}

void ledger_state::put(column cf, std::string_view key, std::string value) {
  auto& r = load(cf, key);
  r.value = std::move(value);
  r.present = true;
  r.parsed = -1;
  r.decoded.reset();
  if (!r.dirty) {
    r.dirty = true;
    dirty_rows_[static_cast<int>(cf)].emplace_back(key);
  }
}

bool ledger_state::entity_exists(std::string_view key) {
  auto& r = load(column::entities, key);
  if (!r.present) return false;
  if (r.parsed < 0) r.parsed = parse_object(r.value) ? 1 : 0;
  return r.parsed == 1;
}

template <class T, class Decode>
std::shared_ptr<const T> ledger_state::cached_ptr(std::string_view key, Decode decode) {
  auto& r = load(column::entities, key);
  if (!r.present) return nullptr;
  if (!r.decoded) {
    std::optional<T> rec = decode(r.value);
    if (!rec) return nullptr;
    r.decoded = std::make_shared<const T>(std::move(*rec));
  }
  return std::static_pointer_cast<const T>(r.decoded);
}

template <class T, class Decode>
std::optional<T> ledger_state::cached_record(std::string_view key, Decode decode) {
  if (auto p = cached_ptr<T>(key, decode)) return *p;
  return std::nullopt;
}

std::string_view ledger_state::entity_key(std::string_view kind, std::string_view a,
                                          std::string_view b) {
  key_.assign(kind);
  key_ += a;
  if (!b.empty()) {
    key_ += '/';
    key_ += b;
  }
  return key_;
}

std::optional<team_record> ledger_state::team(const team_id& t) {
  if (auto p = team_ptr(t)) return *p;
  return std::nullopt;
}

std::shared_ptr<const team_record> ledger_state::team_ptr(const team_id& t) {
  return cached_ptr<team_record>(entity_key("team/", t.str()),
                                 [](const std::string& v) -> std::optional<team_record> {
                                   auto o = parse_object(v);
                                   if (!o) return std::nullopt;
                                   return team_record{str_of(*o, "name"), str_of(*o, "timezone")};
                                 });
}

std::optional<agent_record> ledger_state::agent(const agent_id& a) {
  if (auto p = agent_ptr(a)) return *p;
  return std::nullopt;
}

std::shared_ptr<const agent_record> ledger_state::agent_ptr(const agent_id& a) {
  return cached_ptr<agent_record>(
      entity_key("agent/", a.str()), [](const std::string& v) -> std::optional<agent_record> {
        auto o = parse_object(v);
        if (!o) return std::nullopt;
        return agent_record{team_id{str_of(*o, "team_id")}, str_of(*o, "name"), str_of(*o, "type")};
      });
}

std::optional<task_record> ledger_state::task(const team_id& t, const task_id& k) {
  return cached_record<task_record>(
      "task/" + t.str() + "/" + k.str(), [](const std::string& v) -> std::optional<task_record> {
        auto o = parse_object(v);
        if (!o) return std::nullopt;
        task_record rec{
            str_of(*o, "title"), str_of(*o, "priority"), str_of(*o, "task_type"), {}, {}};
        if (auto* tags = o->if_contains("tags"); tags && tags->is_array()) {
          for (auto& tag : tags->get_array()) {
            if (tag.is_string()) rec.tags.emplace_back(tag.get_string());
          }
        }
        get_opt(*o, "budget_nanos", rec.budget);
        return rec;
      });
}

namespace {

std::optional<session_record> decode_session(const std::string& v) {
  auto o = parse_object(v);
  if (!o) return std::nullopt;
  session_record rec;
  rec.agent = agent_id{str_of(*o, "agent_id")};
  rec.task = task_id{str_of(*o, "task_id")};
  rec.model = str_of(*o, "model");
  rec.effort = str_of(*o, "effort");
  rec.status = status_of(str_of(*o, "status"));
  rec.opened_at = int_of(*o, "opened_at");
  rec.ended_at = int_of(*o, "ended_at");
  rec.reason = str_of(*o, "reason");
  return rec;
}

}  // namespace

std::optional<session_record> ledger_state::session(const team_id& t, const session_id& s) {
  if (auto p = session_ptr(t, s)) return *p;
  return std::nullopt;
}

std::shared_ptr<const session_record> ledger_state::session_ptr(const team_id& t,
                                                                const session_id& s) {
  return cached_ptr<session_record>(entity_key("session/", t.str(), s.str()), decode_session);
}

std::optional<limit_set> ledger_state::limits(std::string_view scope_key) {
  if (auto p = limits_ptr(scope_key)) return *p;
  return std::nullopt;
}

std::shared_ptr<const limit_set> ledger_state::limits_ptr(std::string_view scope_key) {
  return cached_ptr<limit_set>(entity_key("limits/", scope_key),
                               [](const std::string& v) -> std::optional<limit_set> {
                                 auto l = decode_limit_set(v);
                                 if (!l) return std::nullopt;
                                 return *l;
                               });
}

std::optional<std::string> ledger_state::entity_row(std::string_view key) {
  return raw_row(column::entities, key);
}

void ledger_state::put_entity(std::string_view key, std::string value) {
  put(column::entities, key, std::move(value));
}

std::optional<std::string> ledger_state::raw_row(column cf, std::string_view key) {
  if (cf == column::totals) {
    auto& t = load_totals(key);
    return encode_totals(t.value);
  }
  if (cf == column::dedup) return marker(key);
  auto& r = load(cf, key);
  if (!r.present) return std::nullopt;
  return r.value;
}

std::optional<team_id> ledger_state::session_team(const session_id& s) {
  return cached_record<team_id>("sessionof/" + s.str(),
                                [](const std::string& v) -> std::optional<team_id> {
                                  auto o = parse_object(v);
                                  if (!o) return std::nullopt;
                                  return team_id{str_of(*o, "team_id")};
                                });
}

std::int64_t ledger_state::task_count(const team_id& t) {
  auto& r = load(column::entities, "taskcount/" + t.str());
  if (!r.present) return 0;
  auto o = parse_object(r.value);
  return o ? int_of(*o, "count") : 0;
}

bool later_than(time_ms at, const session_id& s, const latest_session& l) {
  return at > l.opened_at || (at == l.opened_at && s.str() > l.session.str());
}

std::optional<latest_session> ledger_state::latest_session_of(const agent_id& a) {
  return cached_record<latest_session>(
      "latest/" + a.str(), [](const std::string& v) -> std::optional<latest_session> {
        auto o = parse_object(v);
        if (!o) return std::nullopt;
        return latest_session{team_id{str_of(*o, "team_id")}, session_id{str_of(*o, "session_id")},
                              task_id{str_of(*o, "task_id")}, int_of(*o, "opened_at")};
      });
}

void ledger_state::note_latest(const team_id& t, const agent_id& a, const session_id& s,
                               const task_id& k, time_ms opened_at) {
  if (a.empty()) return;
  if (auto l = latest_session_of(a); l && !later_than(opened_at, s, *l)) return;
  json::object o;
  o["team_id"] = t.str();
  o["session_id"] = s.str();
  o["task_id"] = k.str();
  o["opened_at"] = opened_at;
  put(column::entities, "latest/" + a.str(), json::serialize(o));
}

void ledger_state::index_session(const team_id& t, const session_id& s) {
  const auto key = "sessionof/" + s.str();
  if (load(column::entities, key).present) return;
  json::object o;
  o["team_id"] = t.str();
  put(column::entities, key, json::serialize(o));
}

void ledger_state::scan_entities(std::string_view prefix,
                                 const std::function<void(std::string_view, std::string_view)>& f) {
  std::map<std::string, std::string, std::less<>> rows;
  if (source_) {
    source_->for_each(column::entities, prefix, [&](std::string_view k, std::string_view v) {
      rows.emplace(std::string(k), std::string(v));
    });
  }
  for (auto& [k, r] : rows_[static_cast<int>(column::entities)]) {
    if (!k.starts_with(prefix)) continue;
    if (r.present) {
      rows[k] = r.value;
    } else {
      rows.erase(k);
    }
  }
  for (auto& [k, v] : rows) f(k, v);
}

void ledger_state::scan_usage_log(
    std::string_view from, std::string_view to,
    const std::function<bool(std::string_view, std::string_view)>& f) {
  // The rows not yet drained or not yet written, merged into the store's, last key first.
  std::map<std::string_view, std::string_view, std::greater<>> cached;
  for (auto& [k, v] : usage_rows_) {
    if (k >= from && k < to) cached.emplace(k, v);
  }
  if (in_flight_) {  // drained rows the store may not have yet (older than usage_rows_)
    for (auto& [k, v] : in_flight_->usage) {
      if (k >= from && k < to) cached.emplace(k, v);
    }
  }
  auto next = cached.begin();
  bool go = true;
  if (source_) {
    // The store's rows, out of its blocks (usage_blocks.h).
    auto stored = [&](std::string_view lo, std::string_view hi, const usage_entry_fn& g) {
      source_->scan_back(column::usage, lo, hi, g);
    };
    scan_usage_rows(stored, from, to, [&](std::string_view k, std::string_view v) {
      for (; go && next != cached.end() && next->first >= k; ++next) {
        if (next->first == k) continue;  // the unwritten row is the same row
        go = f(next->first, next->second);
      }
      if (go) go = f(k, v);
      return go;
    });
  }
  for (; go && next != cached.end(); ++next) go = f(next->first, next->second);
}

original_answer original_of(const usage_decided& u, bool rejected) {
  return original_answer{!rejected, u.cost, u.over_budget, u.stop, u.request_hash, u.reason};
}

std::optional<original_answer> decode_original(std::string_view marker) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= marker.size(); ++i) {
    if (i == marker.size() || marker[i] == '\t') {
      parts.push_back(marker.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 6 || parts[3].size() != 2) return std::nullopt;
  original_answer o;
  o.recorded = parts[1] == "R";
  std::int64_t cost = 0;
  if (!decode_decimal(parts[2], cost)) return std::nullopt;
  o.cost = nanos{cost};
  o.over_budget = parts[3][0] == '1';
  o.stop = parts[3][1] == '1';
  o.request_hash = std::string(parts[4]);
  o.reason = std::string(parts[5]);
  return o;
}

std::optional<original_answer> ledger_state::original(const team_id& t, const event_id& id) {
  auto m = marker(dedup_key(t.str(), id.str()), true);
  if (!m) return std::nullopt;
  return decode_original(*m);
}

namespace {

// The dedup key team '/' id (keys.h), written over out.
void assign_dedup_key(std::string& out, std::string_view team, std::string_view id) {
  out.reserve(team.size() + id.size() + 1);
  out.assign(team).push_back('/');
  out.append(id);
}

}  // namespace

std::string ledger_state::dedup_key(std::string_view team, std::string_view id) {
  std::string key;
  assign_dedup_key(key, team, id);
  return key;
}

void ledger_state::report_done(std::int32_t partition, std::int64_t offset) {
  const auto key = "reports/" + std::to_string(partition);
  if (meta_i64(key).value_or(-1) < offset) set_meta_i64(key, offset);
}

bool ledger_state::seen(const team_id& t, const event_id& id) {
  // The key in a reused buffer: a decision asks this of every report.
  assign_dedup_key(seen_key_, t.str(), id.str());
  return marker(seen_key_, true).has_value();
}

const std::string* ledger_state::in_flight_marker(std::string_view key) const {
  if (!in_flight_) return nullptr;
  auto it = in_flight_->marker_at.find(key);
  return it == in_flight_->marker_at.end() ? nullptr : &in_flight_->markers[it->second].second;
}

void ledger_state::prefetch_markers(const std::vector<std::string>& keys) {
  if (!source_ || !remember_absent_) return;
  std::vector<std::string_view> ask;
  ask.reserve(keys.size());
  for (const auto& key : keys) {
    // What marker() answers before it reads the source: never to be remembered as absent.
    if (marker_index_.find(key) != marker_index_.end()) continue;
    if (absent_markers_.find(key) != absent_markers_.end()) continue;
    if (in_flight_marker(key)) continue;
    ask.push_back(key);
  }
  if (ask.empty()) return;
  std::sort(ask.begin(), ask.end());  // the store reads keys in order (RocksDB's own order)
  const auto present = source_->contains(column::dedup, ask);
  for (std::size_t i = 0; i < ask.size(); ++i) {
    if (present[i]) continue;
    if (absent_markers_.size() >= max_absent_markers) absent_markers_.clear();
    absent_markers_.emplace(ask[i]);
  }
}

std::optional<std::string> ledger_state::marker(std::string_view key, bool remember) {
  if (auto it = marker_index_.find(key); it != marker_index_.end()) {
    return markers_[it->second].second;
  }
  // A key remembered as absent is in no drained batch either: it was not when it was
  // remembered, and its marker leaves this set when its event is folded. Asked first, it spares
  // the in-flight batch's search for the new events a decision and its fold look up.
  if (!absent_markers_.empty() && absent_markers_.find(key) != absent_markers_.end()) {
    return std::nullopt;
  }
  if (const std::string* v = in_flight_marker(key)) return *v;
  if (source_) {
    auto v = source_->get(column::dedup, key);
    if (!v && remember && remember_absent_) {
      if (absent_markers_.size() >= max_absent_markers) absent_markers_.clear();
      absent_markers_.emplace(key);
    }
    return v;
  }
  if (auto it = drained_markers_.find(key); it != drained_markers_.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> ledger_state::entity(std::string_view key) {
  auto& r = load(column::entities, key);
  if (!r.present) return std::nullopt;
  return r.value;
}

std::optional<std::int64_t> ledger_state::meta_i64(std::string_view key) {
  auto& r = load(column::meta, key);
  std::int64_t v;
  if (!r.present || !decode_i64(r.value, v)) return std::nullopt;
  return v;
}

void ledger_state::set_meta_i64(std::string_view key, std::int64_t v) {
  put(column::meta, key, encode_i64(v));
}

void ledger_state::add_meta_i64(std::string_view key, std::int64_t delta) {
  set_meta_i64(key, meta_i64(key).value_or(0) + delta);
}

fold_outcome ledger_state::apply(const event& e) {
  const team_id& team = event_team(e);
  // The report a decision came from is done whether or not the decision is a duplicate.
  const usage_decided* decided = std::get_if<usage_recorded>(&e.payload);
  if (!decided) decided = std::get_if<usage_rejected>(&e.payload);
  if (decided && decided->report) report_done(decided->report->partition, decided->report->offset);
  std::string marker_key = dedup_key(team.str(), e.id.str());
  // A key remembered as absent (a decision's prefetch) is new (marker() would answer so from the
  // same set), and its marker is now on its way to the store: it leaves the set here, in the one
  // lookup.
  const bool known_new = !absent_markers_.empty() && absent_markers_.erase(marker_key) > 0;
  if (!known_new && marker(marker_key)) return fold_outcome::duplicate;

  std::string marker_day;
  std::visit(
      overloaded{
          [&](const team_created& p) {
            json::object o;
            o["name"] = p.name;
            o["timezone"] = p.timezone;
            put(column::entities, "team/" + p.team.str(), json::serialize(o));
          },
          [&](const agent_registered& p) {
            json::object o;
            o["team_id"] = p.team.str();
            o["name"] = p.name;
            o["type"] = p.type;
            put(column::entities, "agent/" + p.agent.str(), json::serialize(o));
          },
          [&](const task_created& p) {
            const auto key = "task/" + p.team.str() + "/" + p.task.str();
            const bool is_new = !load(column::entities, key).present;
            put(column::entities, key, encode_task(task_of(p)));
            if (is_new) {
              json::object o;
              o["count"] = task_count(p.team) + 1;
              put(column::entities, "taskcount/" + p.team.str(), json::serialize(o));
            }
          },
          [&](const limits_set& p) {
            std::string scope = p.scope == limit_scope::global ? "g"
                                : p.scope == limit_scope::team ? "t/" + p.scope_id
                                                               : "a/" + p.scope_id;
            put(column::entities, "limits/" + scope, encode_limit_set(p.limits));
          },
          [&](const session_opened& p) {
            auto old = session(p.team, p.session);
            session_record s = old.value_or(session_record{});
            apply_to_session(s, old.has_value(), e);
            put(column::entities, "session/" + p.team.str() + "/" + p.session.str(),
                encode_session(s));
            index_session(p.team, p.session);
            note_latest(p.team, s.agent, p.session, s.task, s.opened_at);
            fold_slots(*this, p.team, p.session, old, s);
          },
          [&](const session_activated& p) {
            auto old = session(p.team, p.session);
            session_record s = old.value_or(session_record{});
            if (old && apply_to_session(s, true, e)) {
              put(column::entities, "session/" + p.team.str() + "/" + p.session.str(),
                  encode_session(s));
              fold_slots(*this, p.team, p.session, old, s);
            }
          },
          [&](const reservation_held&) { fold_reservation(*this, e); },
          [&](const reservation_released&) { fold_reservation(*this, e); },
          [&](const session_ended& p) {
            auto old = session(p.team, p.session);
            session_record s = old.value_or(session_record{});
            if (apply_to_session(s, old.has_value(), e)) {
              put(column::entities, "session/" + p.team.str() + "/" + p.session.str(),
                  encode_session(s));
              fold_slots(*this, p.team, p.session, old, s);
              fold_session_closed(*this, p.team, p.session);
            }
          },
          [&](const session_terminated& p) {
            auto old = session(p.team, p.session);
            session_record s = old.value_or(session_record{});
            if (apply_to_session(s, old.has_value(), e)) {
              put(column::entities, "session/" + p.team.str() + "/" + p.session.str(),
                  encode_session(s));
              fold_slots(*this, p.team, p.session, old, s);
              fold_session_closed(*this, p.team, p.session);
            }
          },
          [&](const budget_threshold_crossed&) { apply_alert(e); },
          [&](const budget_threshold_resolved&) { apply_alert(e); },
          [&](const alert_acknowledged&) { apply_alert(e); },
          [&](const alert_thresholds_set&) { apply_alert(e); },
          [&](const insight_dismissed&) { fold_insight_dismissed(*this, e); },
          [&](const usage_decided& p) {
            bool rejected = std::holds_alternative<usage_rejected>(e.payload);
            // The dimension rows through the row-set cache, the lifetime rows by key; the
            // rows and deltas are exactly those of visit_totals.
            signature_.clear();
            for (const std::string* part :
                 {&p.team.str(), &p.agent.str(), &p.model, &p.effort, &p.day, &p.month}) {
              signature_.append(*part).push_back('\x1f');
            }
            char utc_day[24];
            signature_.append(utc_day, std::to_chars(utc_day, utc_day + sizeof utc_day,
                                                     floor_div(p.occurred_at, 86'400'000))
                                           .ptr);
            auto set = row_sets_.find(signature_);
            if (set == row_sets_.end()) {
              std::vector<totals_map::value_type*> rows;
              visit_totals(
                  p, rejected, scratch_,
                  [&](const std::string& k, const totals&) { rows.push_back(&load_totals_row(k)); },
                  row_kind::dimensions);
              set = row_sets_.emplace(signature_, std::move(rows)).first;
            }
            const totals d = delta_of(p, rejected);
            for (auto* row : set->second) add_to(*row, d);
            visit_totals(
                p, rejected, scratch_,
                [&](const std::string& k, const totals& delta) { add_totals(k, delta); },
                row_kind::lifetime);
            // Same meaning as !session(...) / !agent(...): absent or not a JSON object.
            if (!p.session.empty() &&
                !entity_exists(entity_key("session/", p.team.str(), p.session.str()))) {
              // Usage on a session nobody opened explicitly opens it implicitly.
              session_record s;
              s.agent = p.agent;
              s.task = p.task;
              s.model = p.model;
              s.effort = p.effort;
              s.opened_at = p.occurred_at;
              put(column::entities, "session/" + p.team.str() + "/" + p.session.str(),
                  encode_session(s));
              index_session(p.team, p.session);
              note_latest(p.team, s.agent, p.session, s.task, s.opened_at);
              fold_slots(*this, p.team, p.session, std::nullopt, s);
            }
            if (!p.agent.empty() && !entity_exists(entity_key("agent/", p.agent.str()))) {
              json::object o;
              o["team_id"] = p.team.str();
              o["name"] = p.agent.str();
              o["type"] = "";
              put(column::entities, "agent/" + p.agent.str(), json::serialize(o));
            }
            usage_rows_.emplace_back(usage_log_key(p.team, p.occurred_at, e.id),
                                     encode_usage_log_row(p, rejected));
            // The original answer (original_of, decode_original) after the day.
            marker_day.reserve(p.day.size() + p.request_hash.size() + p.reason.size() + 32);
            marker_day = p.day;
            marker_day.append(rejected ? "\tJ\t" : "\tR\t");
            char digits[24];
            marker_day.append(digits,
                              std::to_chars(digits, digits + sizeof digits, p.cost.count).ptr);
            marker_day.push_back('\t');
            marker_day.append(p.over_budget ? "1" : "0").append(p.stop ? "1" : "0");
            marker_day.push_back('\t');
            marker_day.append(p.request_hash).push_back('\t');
            marker_day.append(p.reason);
          },
      },
      e.payload);
  if (marker_day.empty()) marker_day = day_of_utc(e.time);
  markers_.emplace_back(std::move(marker_key), std::move(marker_day));
  marker_index_.emplace(markers_.back().first, markers_.size() - 1);
  return fold_outcome::applied;
}

namespace {

// The eight bytes of `key` from `at` as a big-endian number, zeros past its end: two keys equal
// before `at` compare as these numbers do wherever the numbers differ.
std::uint64_t key_head(std::string_view key, std::size_t at) {
  std::uint64_t head = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const auto c = at + i < key.size() ? static_cast<unsigned char>(key[at + i]) : 0u;
    head = head << 8 | c;
  }
  return head;
}

// A row to sort: the eight bytes of its key being compared, and the row.
template <class Row>
struct sort_slot {
  std::uint64_t head;
  Row row;
};

template <class Slot>
bool row_less(const Slot& a, const Slot& b) {
  return *a.row < *b.row;
}

// Sorts [b, e), whose keys are all equal before `from`, eight key bytes at a time: by the eight
// bytes after the prefix they all share, then each run of equal bytes the same way further on.
// Runs of a few rows, and runs where a key ends, are compared whole.
template <class Slot>
void order_from(Slot* b, Slot* e, std::size_t from) {
  if (e - b < 2) return;
  if (e - b <= 8) {
    std::sort(b, e, row_less<Slot>);
    return;
  }
  const std::string_view first = b->row->first;
  std::size_t common = first.size();
  for (auto* s = b + 1; s != e && common > from; ++s) {
    const std::string_view k = s->row->first;
    const auto n = static_cast<std::ptrdiff_t>(std::min(common, k.size()));
    const auto at = static_cast<std::ptrdiff_t>(from);
    common = from + static_cast<std::size_t>(
                        std::mismatch(first.begin() + at, first.begin() + n, k.begin() + at).first -
                        (first.begin() + at));
  }
  for (auto* s = b; s != e; ++s) s->head = key_head(s->row->first, common);
  std::sort(b, e, [](const Slot& x, const Slot& y) { return x.head < y.head; });
  for (auto* run = b; run != e;) {
    auto* end = run + 1;
    bool ends = run->row->first.size() < common + 8;
    for (; end != e && end->head == run->head; ++end) {
      ends = ends || end->row->first.size() < common + 8;
    }
    if (end - run > 1) {
      if (ends) {
        std::sort(run, end, row_less<Slot>);
      } else {
        order_from(run, end, common + 8);
      }
    }
    run = end;
  }
}

// Rows in key order (then value: the same order whatever the run), as slots pointing at them:
// sorting the rows themselves would move two strings at every swap. In order, the store's memtable
// inserts each row next to the one before. A flush's keys share long prefixes (the team, the time's
// leading digits, a client's id scheme), which every string comparison would read again: they are
// sorted on eight bytes at a time past what they share (1.5-1.9x faster than comparing strings,
// which was most of the store writer's sort: tally_bench_functions' BM_batch_key_order).
template <class Rows>
auto key_order(Rows& rows) {
  std::vector<sort_slot<decltype(&*rows.begin())>> slots;
  slots.reserve(rows.size());
  for (auto& r : rows) slots.push_back({0, &r});
  order_from(slots.data(), slots.data() + slots.size(), 0);
  return slots;
}

// Where the dedup markers go among the other changes (which are in column order).
std::size_t markers_position(const std::vector<ledger_state::change>& changes) {
  auto it = std::partition_point(changes.begin(), changes.end(),
                                 [](const auto& c) { return c.cf <= column::dedup; });
  return static_cast<std::size_t>(it - changes.begin());
}

// Every row of a drained batch, column by column, each column's rows in key order:
// f(column, key, value), with the batch's own strings (a non-const batch's may be moved from).
template <class Batch, class F>
void visit_in_key_order(Batch& b, F&& f) {
  const auto split = markers_position(b.changes);
  for (std::size_t i = 0; i < split; ++i) f(b.changes[i].cf, b.changes[i].key, b.changes[i].value);
  for (auto& s : key_order(b.markers)) f(column::dedup, s.row->first, s.row->second);
  for (std::size_t i = split; i < b.changes.size(); ++i) {
    f(b.changes[i].cf, b.changes[i].key, b.changes[i].value);
  }
  for (auto& s : key_order(b.usage)) f(column::usage, s.row->first, s.row->second);
}

}  // namespace

ledger_state::batch ledger_state::take_drained() {
  batch b;
  b.changes.reserve(dirty_count() - markers_.size() - usage_rows_.size());
  std::sort(dirty_totals_.begin(), dirty_totals_.end());
  for (auto& k : dirty_totals_) {
    auto& e = totals_.find(k)->second;
    e.dirty = false;
    b.changes.push_back({column::totals, k, encode_totals(e.value)});
  }
  dirty_totals_.clear();
  for (int c = 0; c < column_count; ++c) {
    auto& keys = dirty_rows_[c];
    std::sort(keys.begin(), keys.end());
    for (auto& k : keys) {
      auto& r = rows_[c].find(k)->second;
      r.dirty = false;
      b.changes.push_back({static_cast<column>(c), k, r.value});
      b.has_outbox = b.has_outbox || static_cast<column>(c) == column::outbox;
    }
    keys.clear();
  }
  if (!source_) {
    for (auto& [k, v] : markers_) drained_markers_.emplace(k, v);
  }
  // Moved as they are: a deque's elements stay in place, so the index's keys still point into
  // them.
  b.markers = std::move(markers_);
  b.marker_at = std::move(marker_index_);
  b.usage = std::move(usage_rows_);
  markers_.clear();
  marker_index_.clear();
  usage_rows_.clear();
  // The next stretch is likely as long: the index and the rows grow without rehashing or moving.
  marker_index_.reserve(b.markers.size());
  usage_rows_.reserve(b.usage.size());
  return b;
}

std::vector<ledger_state::change> ledger_state::drain() {
  auto b = take_drained();
  std::vector<change> out;
  out.reserve(b.changes.size() + b.markers.size() + b.usage.size());
  visit_in_key_order(b, [&](column cf, std::string& key, std::string& value) {
    out.push_back({cf, std::move(key), std::move(value)});
  });
  return out;
}

void ledger_state::batch::in_key_order(
    const std::function<void(column, std::string_view, std::string_view)>& f) const {
  visit_in_key_order(*this, f);
}

std::shared_ptr<const ledger_state::batch> ledger_state::drain_batch() {
  auto b = std::make_shared<batch>(take_drained());
  in_flight_ = b;
  return b;
}

std::size_t ledger_state::dirty_count() const {
  std::size_t n = dirty_totals_.size();
  for (auto& v : dirty_rows_) n += v.size();
  return n + usage_rows_.size() + markers_.size();
}

std::size_t ledger_state::cached_count() const {
  std::size_t n = totals_.size();
  for (auto& m : rows_) n += m.size();
  return n;
}

void ledger_state::evict_clean_over(std::size_t max_cached) {
  // (Dedup markers are not cached once drained: the store answers a duplicate.)
  if (cached_count() > max_cached) evict_clean();
}

void ledger_state::evict_clean() {
  row_sets_.clear();
  absl::erase_if(totals_, [](const auto& kv) { return !kv.second.dirty; });
  for (auto& m : rows_) absl::erase_if(m, [](const auto& kv) { return !kv.second.dirty; });
}

}  // namespace tally
