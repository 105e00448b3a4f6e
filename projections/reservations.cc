#include "projections/reservations.h"

#include <boost/json.hpp>

namespace tally {
namespace json = boost::json;
namespace {

std::string str_of(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t int_of(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->get_int64() : 0;
}

std::optional<json::value> parse(std::string_view row) {
  boost::system::error_code ec;
  auto v = json::parse(row, ec);
  if (ec) return std::nullopt;
  return v;
}

std::string reservation_key(const team_id& t, std::string_view id) {
  return "reservation/" + t.str() + "/" + std::string(id);
}
std::string holds_key(const team_id& t) {
  return "holds/" + t.str();
}

// One open hold in a team's list.
struct hold {
  std::string id;
  session_id session;
  agent_id agent;
  task_id task;
  std::int64_t amount = 0;
  time_ms expires_at = 0;
};

std::vector<hold> decode_holds(std::string_view row) {
  std::vector<hold> out;
  auto v = parse(row);
  if (!v || !v->is_array()) return out;
  for (auto& x : v->get_array()) {
    if (!x.is_object()) continue;
    auto& o = x.get_object();
    out.push_back({str_of(o, "id"), session_id{str_of(o, "session_id")},
                   agent_id{str_of(o, "agent_id")}, task_id{str_of(o, "task_id")},
                   int_of(o, "amount_nanos"), int_of(o, "expires_at")});
  }
  return out;
}

std::string encode_holds(const std::vector<hold>& hs) {
  json::array a;
  for (auto& h : hs) {
    json::object o;
    o["id"] = h.id;
    o["session_id"] = h.session.str();
    o["agent_id"] = h.agent.str();
    o["task_id"] = h.task.str();
    o["amount_nanos"] = h.amount;
    o["expires_at"] = h.expires_at;
    a.emplace_back(std::move(o));
  }
  return json::serialize(a);
}

std::string encode_record(const reservation_record& r) {
  json::object o;
  o["session_id"] = r.session.str();
  o["agent_id"] = r.agent.str();
  o["task_id"] = r.task.str();
  o["amount_nanos"] = r.amount.count;
  o["held_at"] = r.held_at;
  o["expires_at"] = r.expires_at;
  o["status"] = r.status;
  if (r.actual) o["actual_nanos"] = r.actual->count;
  o["usage_event_id"] = r.usage_event;
  o["request_hash"] = r.request_hash;
  return json::serialize(o);
}

std::optional<reservation_record> decode_record(std::string_view id, std::string_view row) {
  auto v = parse(row);
  if (!v || !v->is_object()) return std::nullopt;
  auto& o = v->get_object();
  reservation_record r;
  r.id = std::string(id);
  r.session = session_id{str_of(o, "session_id")};
  r.agent = agent_id{str_of(o, "agent_id")};
  r.task = task_id{str_of(o, "task_id")};
  r.amount = nanos{int_of(o, "amount_nanos")};
  r.held_at = int_of(o, "held_at");
  r.expires_at = int_of(o, "expires_at");
  r.status = str_of(o, "status");
  if (o.contains("actual_nanos")) r.actual = nanos{int_of(o, "actual_nanos")};
  r.usage_event = str_of(o, "usage_event_id");
  r.request_hash = str_of(o, "request_hash");
  return r;
}

std::optional<reservation_record> record_in(ledger_state& s, const team_id& t,
                                            std::string_view id) {
  auto row = s.entity_row(reservation_key(t, id));
  if (!row) return std::nullopt;
  return decode_record(id, *row);
}

// Marks a reservation as no longer holding, unless it already stopped.
void close_record(ledger_state& s, const team_id& t, std::string_view id, std::string status,
                  std::optional<nanos> actual = {}, std::string usage_event = {}) {
  auto r = record_in(s, t, id);
  if (!r || r->status != "held") return;
  r->status = std::move(status);
  r->actual = actual;
  r->usage_event = std::move(usage_event);
  s.put_entity(reservation_key(t, id), encode_record(*r));
}

// Writes a team's open holds, keeping the org-wide count of open holds in step: a global
// limit scans the teams' lists only while some hold is open.
void put_holds(ledger_state& s, const team_id& t, std::size_t before, const std::vector<hold>& hs) {
  s.put_entity(holds_key(t), encode_holds(hs));
  if (hs.size() == before) return;
  std::int64_t open = 0;
  if (auto row = s.entity_row("holdcount/g")) {
    if (auto v = parse(*row); v && v->is_object()) open = int_of(v->get_object(), "count");
  }
  json::object o;
  o["count"] = std::max<std::int64_t>(
      0, open + static_cast<std::int64_t>(hs.size()) - static_cast<std::int64_t>(before));
  s.put_entity("holdcount/g", json::serialize(o));
}

std::vector<hold> holds_in(ledger_state& s, const team_id& t) {
  auto row = s.entity_row(holds_key(t));
  return row ? decode_holds(*row) : std::vector<hold>{};
}

// Drops the holds expired at `at` from the list, marking their records.
void prune_expired(ledger_state& s, const team_id& t, std::vector<hold>& hs, time_ms at) {
  std::erase_if(hs, [&](const hold& h) {
    if (h.expires_at > at) return false;
    close_record(s, t, h.id, "expired");
    return true;
  });
}

}  // namespace

void fold_reservation(ledger_state& s, const event& e) {
  if (auto* p = std::get_if<reservation_held>(&e.payload)) {
    if (s.entity_row(reservation_key(p->team, p->reservation))) return;  // the id is taken
    reservation_record r;
    r.id = p->reservation;
    r.session = p->session;
    r.agent = p->agent;
    r.task = p->task;
    r.amount = p->amount;
    r.held_at = e.time;
    r.expires_at = p->expires_at;
    r.status = "held";
    r.request_hash = p->request_hash;
    s.put_entity(reservation_key(p->team, p->reservation), encode_record(r));
    auto hs = holds_in(s, p->team);
    const auto before = hs.size();
    prune_expired(s, p->team, hs, e.time);
    hs.push_back({r.id, r.session, r.agent, r.task, r.amount.count, r.expires_at});
    put_holds(s, p->team, before, hs);
    return;
  }
  if (auto* p = std::get_if<reservation_released>(&e.payload)) {
    auto hs = holds_in(s, p->team);
    const auto n = hs.size();
    std::erase_if(hs, [&](const hold& h) { return h.id == p->reservation; });
    if (hs.size() != n) {
      close_record(s, p->team, p->reservation, p->reason, p->actual, p->usage_event.str());
    }
    prune_expired(s, p->team, hs, e.time);
    put_holds(s, p->team, n, hs);
  }
}

void fold_session_closed(ledger_state& s, const team_id& t, const session_id& session) {
  auto row = s.entity_row(holds_key(t));
  if (!row) return;
  auto hs = decode_holds(*row);
  const auto n = hs.size();
  std::erase_if(hs, [&](const hold& h) {
    if (h.session != session) return false;
    close_record(s, t, h.id, "session_ended");
    return true;
  });
  if (hs.size() != n) put_holds(s, t, n, hs);
}

std::optional<reservation_record> reservation_of(live_view& live, const team_id& t,
                                                 std::string_view id) {
  auto row = live.entity_row(reservation_key(t, id));
  if (!row) return std::nullopt;
  return decode_record(id, *row);
}

held_amounts held_for(live_view& live, const team_id& team, const agent_id& agent,
                      const task_id& task, const session_id& session, time_ms now, bool with_global,
                      std::string_view except) {
  held_amounts out;
  auto counts = [&](const hold& h) { return h.expires_at > now && h.id != except; };
  if (auto row = live.entity_row(holds_key(team))) {
    for (auto& h : decode_holds(*row)) {
      if (!counts(h)) continue;
      out.team += h.amount;
      if (!agent.empty() && h.agent == agent) out.agent += h.amount;
      if (!task.empty() && h.task == task) out.task += h.amount;
      if (!session.empty() && h.session == session) out.session += h.amount;
    }
  }
  std::int64_t open = 0;
  if (with_global) {
    if (auto row = live.entity_row("holdcount/g")) {
      if (auto v = parse(*row); v && v->is_object()) open = int_of(v->get_object(), "count");
    }
  }
  if (open > 0) {
    live.scan_entity_rows("holds/", [&](std::string_view key, std::string_view row) {
      const bool own = key.substr(6) == team.str();
      for (auto& h : decode_holds(row)) {
        if (h.expires_at > now && (!own || h.id != except)) out.global += h.amount;
      }
    });
  }
  return out;
}

namespace {

command_decision refuse(refusal r, std::string code, std::string detail) {
  command_decision d;
  d.refused = r;
  d.code = std::move(code);
  d.detail = std::move(detail);
  return d;
}

}  // namespace

command_decision decide_reserve(live_view& live, const command_context& ctx,
                                const reserve_command& c) {
  if (!valid_id(c.reservation)) {
    return refuse(refusal::invalid, "bad_id", "invalid reservation id");
  }
  if (c.amount.count <= 0) {
    return refuse(refusal::invalid, "bad_field", "the amount must be positive");
  }
  if (c.ttl_ms <= 0 || c.ttl_ms > max_reservation_ttl_ms) {
    return refuse(refusal::invalid, "bad_field", "ttl_seconds must be 1..86400");
  }
  auto s = live.session(c.team, c.session);
  if (!s) return refuse(refusal::not_found, "session_not_found", "no session " + c.session.str());
  if (auto r = reservation_of(live, c.team, c.reservation)) {
    if (r->session == c.session && r->request_hash == c.request_hash) return {};  // a retry
    return refuse(refusal::invalid, "idempotency_key_reused",
                  "reservation " + c.reservation + " was made by a different request");
  }
  if (s->status == session_status::queued) {
    return refuse(refusal::conflict, "session_queued",
                  "session " + c.session.str() + " is queued: reserve once it is active");
  }
  if (s->status != session_status::active) {
    return refuse(refusal::over_budget, "session_not_active",
                  "session " + c.session.str() + " is " + std::string(to_string(s->status)));
  }
  static const limit_policy no_policy;
  const limit_policy& policy = ctx.policy ? *ctx.policy : no_policy;
  auto view = budget_of(live, policy, c.team, s->agent, s->task, ctx.now);
  // The per-run cap of the session is an enclosing limit too.
  const limit_set agent_limits = effective_agent_limits(live, policy, s->agent);
  auto spent = live.get(totals_key(scope_session(c.team, c.session), window_lifetime, "-"));
  if (agent_limits.cost_per_run) {
    const auto held = held_for(live, c.team, s->agent, s->task, c.session, ctx.now, false);
    budget_line b{"session:" + c.session.str(),
                  "run",
                  "cost",
                  agent_limits.cost_per_run->count,
                  spent.cost_nanos,
                  0,
                  0,
                  spent.cost_nanos >= agent_limits.cost_per_run->count};
    b.reserved = held.session;
    b.remaining = std::max<std::int64_t>(0, b.limit - b.spent - b.reserved);
    view.lines.push_back(b);
  }
  if (agent_limits.tokens_per_run) {
    view.lines.push_back({"session:" + c.session.str(), "run", "tokens",
                          *agent_limits.tokens_per_run, spent.tokens(), 0, 0,
                          spent.tokens() >= *agent_limits.tokens_per_run});
  }
  for (auto& line : view.lines) {
    const bool fits = line.metric == "cost"
                          ? line.spent + line.reserved + c.amount.count <= line.limit
                          : line.spent < line.limit;
    if (fits) continue;
    auto d = refuse(refusal::over_budget, "limit_reached",
                    "the reservation does not fit the " + line.window + " " + line.metric +
                        " limit of " + line.scope);
    d.limit = line;
    return d;
  }
  command_decision d;
  event e;
  e.id = event_id{"hold-" + c.reservation};
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = reservation_held{c.team,  c.reservation, c.session,          s->agent,
                               s->task, c.amount,      ctx.now + c.ttl_ms, c.request_hash};
  d.events.push_back(std::move(e));
  return d;
}

command_decision decide_release(live_view& live, const command_context& ctx, const team_id& team,
                                const session_id& session, std::string_view reservation) {
  auto r = reservation_of(live, team, reservation);
  if (!r || r->session != session) {
    return refuse(refusal::not_found, "reservation_not_found",
                  "no reservation " + std::string(reservation) + " in this session");
  }
  if (r->status_at(ctx.now) != "held") return {};
  command_decision d;
  event e;
  e.id = event_id{"release-" + r->id};
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = reservation_released{team, r->id, session, "released", std::nullopt, event_id{}};
  d.events.push_back(std::move(e));
  return d;
}

}  // namespace tally
