#include "projections/slots.h"

#include <map>

#include <boost/json.hpp>

#include "projections/budget.h"
#include "schemas/json_fields.h"

namespace tally {
namespace json = boost::json;
namespace {

std::optional<json::value> parse(const std::optional<std::string>& row) {
  if (!row) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*row, ec);
  if (ec) return std::nullopt;
  return v;
}

std::int64_t count_of(const std::optional<std::string>& row) {
  auto v = parse(row);
  if (!v || !v->is_object()) return 0;
  auto* c = v->get_object().if_contains("count");
  return c && c->is_int64() ? c->get_int64() : 0;
}

void add_count(ledger_state& s, const std::string& key, std::int64_t delta) {
  json::object o;
  o["count"] = std::max<std::int64_t>(0, count_of(s.entity_row(key)) + delta);
  s.put_entity(key, json::serialize(o));
}

std::vector<queued_session> decode_queue(const std::optional<std::string>& row) {
  std::vector<queued_session> out;
  auto v = parse(row);
  if (!v || !v->is_array()) return out;
  for (auto& x : v->get_array()) {
    if (!x.is_object()) continue;
    auto& o = x.get_object();
    out.push_back(
        {session_id{string_field(o, "session_id")}, agent_id{string_field(o, "agent_id")}});
  }
  return out;
}

std::string encode_queue(const std::vector<queued_session>& q) {
  json::array a;
  for (auto& x : q) {
    json::object o;
    o["session_id"] = x.session.str();
    o["agent_id"] = x.agent.str();
    a.emplace_back(std::move(o));
  }
  return json::serialize(a);
}

std::string queue_key(const team_id& t) {
  return "queue/" + t.str();
}

}  // namespace

void fold_slots(ledger_state& s, const team_id& t, const session_id& id,
                const std::optional<session_record>& before, const session_record& after) {
  const bool was_active = before && before->status == session_status::active;
  const bool was_queued = before && before->status == session_status::queued;
  const bool is_active = after.status == session_status::active;
  const bool is_queued = after.status == session_status::queued;
  if (was_active != is_active) {
    const std::int64_t d = is_active ? 1 : -1;
    add_count(s, "active/g", d);
    add_count(s, "active/t/" + t.str(), d);
    if (!after.agent.empty()) add_count(s, "active/a/" + after.agent.str(), d);
  }
  if (was_queued != is_queued) {
    auto q = decode_queue(s.entity_row(queue_key(t)));
    if (is_queued) {
      q.push_back({id, after.agent});
    } else {
      std::erase_if(q, [&](const queued_session& x) { return x.session == id; });
    }
    s.put_entity(queue_key(t), encode_queue(q));
  }
}

std::int64_t active_sessions(live_view& live, std::string_view scope_key) {
  return count_of(live.entity_row("active/" + std::string(scope_key)));
}

std::vector<queued_session> queue_of(live_view& live, const team_id& t) {
  return decode_queue(live.entity_row(queue_key(t)));
}

std::int64_t queue_position(live_view& live, const team_id& t, const session_id& s) {
  auto q = queue_of(live, t);
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i].session == s) return static_cast<std::int64_t>(i) + 1;
  }
  return 0;
}

std::optional<slot_limit> concurrency_reached(
    live_view& live, const limit_policy& policy, const team_id& team, const agent_id& agent,
    const std::map<std::string, std::int64_t, std::less<>>* extra) {
  auto check = [&](const std::optional<std::int64_t>& max, std::string scope,
                   const std::string& key) -> std::optional<slot_limit> {
    if (!max) return std::nullopt;
    auto active = active_sessions(live, key);
    if (extra) {
      if (auto it = extra->find(key); it != extra->end()) active += it->second;
    }
    if (active + 1 <= *max) return std::nullopt;
    return slot_limit{std::move(scope), *max, active};
  };
  if (auto r =
          check(effective_global_limits(live, policy).max_concurrent_sessions, "global", "g")) {
    return r;
  }
  if (auto r = check(effective_team_limits(live, policy, team).max_concurrent_sessions,
                     "team:" + team.str(), "t/" + team.str())) {
    return r;
  }
  if (agent.empty()) return std::nullopt;
  return check(effective_agent_limits(live, policy, agent).max_concurrent_sessions,
               "agent:" + agent.str(), "a/" + agent.str());
}

void with_tentative(live_view& live, std::span<const event> events,
                    const std::function<void()>& f) {
  for (auto& e : events) live.add_tentative(e);
  struct undo {
    live_view& live;
    std::span<const event> events;
    ~undo() {
      for (auto it = events.rbegin(); it != events.rend(); ++it) live.remove_tentative(*it);
    }
  } u{live, events};
  f();
}

std::vector<event> activate_queued(live_view& live, const limit_policy& policy, const team_id& team,
                                   time_ms now, const std::string& source,
                                   std::span<const event> decided) {
  std::vector<event> out;
  if (queue_of(live, team).empty()) {
    // Nothing queued now; the decided events cannot queue anything either (opening a session
    // queued is decided by decide_open_session, which handles its own).
    return out;
  }
  with_tentative(live, decided, [&] {
    // Each activation is taken into account for the next one.
    std::vector<event> acts;
    std::map<std::string, std::int64_t, std::less<>> extra;
    for (auto& q : queue_of(live, team)) {
      auto fits = [&] {
        if (concurrency_reached(live, policy, team, q.agent, &extra)) return false;
        auto s = live.session(team, q.session);
        if (!s || s->status != session_status::queued) return false;
        auto v = budget_of(live, policy, team, q.agent, s->task, now);
        for (auto& l : v.lines) {
          if (l.spent + l.reserved >= l.limit) return false;
        }
        return true;
      };
      if (!fits()) continue;
      ++extra["g"];
      ++extra["t/" + team.str()];
      if (!q.agent.empty()) ++extra["a/" + q.agent.str()];
      event e;
      e.id = event_id{"activate-" + q.session.str()};
      e.time = now;
      e.source = source;
      e.payload = session_activated{team, q.session};
      acts.push_back(std::move(e));
    }
    out = std::move(acts);
  });
  return out;
}

}  // namespace tally
