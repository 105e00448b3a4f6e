#include "projections/decide.h"

#include <algorithm>

#include "projections/reservations.h"
#include "projections/slots.h"
#include "projections/thresholds.h"
#include "projections/usage_log.h"
#include "schemas/event_time.h"

namespace tally {
namespace {

// Pending and written-through events by their dedup key.
std::string pending_key(const team_id& t, std::string_view id) {
  return ledger_state::dedup_key(t.str(), id);
}

// One limit check: a scope's spent amount against its cap.
struct check {
  std::string name;  // e.g. "team:acme:day:cost"
  std::int64_t spent = 0;
  std::int64_t limit = 0;
  std::int64_t adding = 0;
  bool per_run = false;
  std::int64_t held = 0;  // reserved by others in the scope (cost checks; reservations.h)
};

void add_window_checks(std::vector<check>& out, const std::string& name, const limit_set& l,
                       const totals& day, const totals& month, const usage_decided& u,
                       std::vector<threshold_line>& lines, alert_scope_kind kind,
                       std::string_view scope_id, std::string_view day_period,
                       std::string_view month_period) {
  if (l.cost_per_day) {
    out.push_back({name + ":day:cost", day.cost_nanos, l.cost_per_day->count, u.cost.count});
    lines.push_back({kind, std::string(scope_id), "day", std::string(day_period), day.cost_nanos,
                     l.cost_per_day->count});
  }
  if (l.cost_per_month) {
    out.push_back({name + ":month:cost", month.cost_nanos, l.cost_per_month->count, u.cost.count});
    lines.push_back({kind, std::string(scope_id), "month", std::string(month_period),
                     month.cost_nanos, l.cost_per_month->count});
  }
  if (l.tokens_per_day) {
    out.push_back({name + ":day:tokens", day.tokens(), *l.tokens_per_day, u.tokens.total()});
  }
  if (l.tokens_per_month) {
    out.push_back({name + ":month:tokens", month.tokens(), *l.tokens_per_month, u.tokens.total()});
  }
}

}  // namespace

totals live_view::get(const std::string& key) {
  totals t = state_.get_totals(key);
  // Written through (the owner's mode), nothing is ever tentative: no second lookup.
  if (deltas_.empty()) return t;
  if (auto it = deltas_.find(key); it != deltas_.end()) t += it->second;
  return t;
}

bool live_view::seen(const team_id& t, const event_id& id) {
  return (!pending_ids_.empty() && pending_ids_.contains(pending_key(t, id.str()))) ||
         state_.seen(t, id);
}

std::optional<original_answer> live_view::original(const team_id& t, const event_id& id) {
  if (pending_answers_.empty()) return state_.original(t, id);
  if (auto it = pending_answers_.find(pending_key(t, id.str())); it != pending_answers_.end()) {
    return it->second;
  }
  return state_.original(t, id);
}

std::optional<session_status> live_view::status(const team_id& t, const session_id& s) {
  if (auto rec = session_ptr(t, s)) return rec->status;
  return std::nullopt;
}

std::optional<team_id> live_view::agent_team(const agent_id& a) {
  if (auto rec = agent_ptr(a)) return rec->team;
  if (auto it = agents_.find(a.str()); it != agents_.end()) return it->second.first;
  return std::nullopt;
}

std::optional<team_record> live_view::team(const team_id& t) {
  for (auto it = entities_.rbegin(); it != entities_.rend(); ++it) {
    if (auto* p = std::get_if<team_created>(&it->payload); p && p->team == t) {
      return team_record{p->name, p->timezone};
    }
  }
  return state_.team(t);
}

std::optional<agent_record> live_view::agent(const agent_id& a) {
  for (auto it = entities_.rbegin(); it != entities_.rend(); ++it) {
    if (auto* p = std::get_if<agent_registered>(&it->payload); p && p->agent == a) {
      return agent_record{p->team, p->name, p->type};
    }
  }
  return state_.agent(a);
}

std::optional<task_record> live_view::task(const team_id& t, const task_id& k) {
  for (auto it = entities_.rbegin(); it != entities_.rend(); ++it) {
    if (auto* p = std::get_if<task_created>(&it->payload); p && p->team == t && p->task == k) {
      return task_of(*p);
    }
  }
  return state_.task(t, k);
}

std::optional<session_record> live_view::session(const team_id& t, const session_id& s) {
  auto rec = state_.session(t, s);
  bool exists = rec.has_value();
  session_record r = rec.value_or(session_record{});
  for (auto& e : entities_) {
    if (event_team(e) != t) continue;
    const session_id* id = nullptr;
    if (auto* p = std::get_if<session_opened>(&e.payload)) id = &p->session;
    if (auto* p = std::get_if<session_ended>(&e.payload)) id = &p->session;
    if (auto* p = std::get_if<session_terminated>(&e.payload)) id = &p->session;
    if (auto* p = std::get_if<session_activated>(&e.payload)) id = &p->session;
    if (!id || *id != s) continue;
    apply_to_session(r, exists, e);
    exists = true;
  }
  if (!exists) return std::nullopt;
  return r;
}

namespace {
template <class T>
std::shared_ptr<const T> shared_of(std::optional<T> rec) {
  if (!rec) return nullptr;
  return std::make_shared<const T>(std::move(*rec));
}
}  // namespace

std::shared_ptr<const team_record> live_view::team_ptr(const team_id& t) {
  return entities_.empty() ? state_.team_ptr(t) : shared_of(team(t));
}

std::shared_ptr<const agent_record> live_view::agent_ptr(const agent_id& a) {
  return entities_.empty() ? state_.agent_ptr(a) : shared_of(agent(a));
}

std::shared_ptr<const session_record> live_view::session_ptr(const team_id& t,
                                                             const session_id& s) {
  return entities_.empty() ? state_.session_ptr(t, s) : shared_of(session(t, s));
}

std::shared_ptr<const limit_set> live_view::limits_ptr(std::string_view scope_key) {
  return entities_.empty() ? state_.limits_ptr(scope_key) : shared_of(limits(scope_key));
}

// The overlay: a ledger_state whose misses read the projected state, holding the pending
// entity events folded in decision order.
struct live_view::overlay {
  struct through final : state_source {
    ledger_state* base;
    explicit through(ledger_state* b) : base(b) {}
    std::optional<std::string> get(column cf, std::string_view key) override {
      return base->raw_row(cf, key);
    }
    void for_each(column cf, std::string_view prefix,
                  const std::function<void(std::string_view, std::string_view)>& f) const override {
      if (cf == column::entities) base->scan_entities(prefix, f);
    }
  };
  through source;
  ledger_state state;
  explicit overlay(ledger_state* base) : source(base), state(&source) {}
};

void live_view::overlay_deleter::operator()(overlay* o) const {
  delete o;
}

ledger_state& live_view::overlay_state() {
  if (!overlay_) {
    overlay_.reset(new overlay(&state_));
    for (auto& e : entities_) overlay_->state.apply(e);
    overlay_->state.evict_clean();
  }
  return overlay_->state;
}

std::optional<std::string> live_view::entity_row(std::string_view key) {
  if (entities_.empty()) return state_.entity_row(key);
  return overlay_state().entity_row(key);
}

void live_view::scan_entity_rows(std::string_view prefix,
                                 const std::function<void(std::string_view, std::string_view)>& f) {
  if (entities_.empty()) {
    state_.scan_entities(prefix, f);
  } else {
    overlay_state().scan_entities(prefix, f);
  }
}

std::optional<team_id> live_view::session_team(const session_id& s) {
  if (auto t = state_.session_team(s)) return t;
  for (auto& e : entities_) {
    if (auto* p = std::get_if<session_opened>(&e.payload); p && p->session == s) return p->team;
  }
  return std::nullopt;
}

std::optional<limit_set> live_view::limits(std::string_view scope_key) {
  for (auto it = entities_.rbegin(); it != entities_.rend(); ++it) {
    auto* p = std::get_if<limits_set>(&it->payload);
    if (!p) continue;
    std::string key = p->scope == limit_scope::global ? "g"
                      : p->scope == limit_scope::team ? "t/" + p->scope_id
                                                      : "a/" + p->scope_id;
    if (key == scope_key) return p->limits;
  }
  return state_.limits(scope_key);
}

std::int64_t live_view::task_count(const team_id& t) {
  std::int64_t n = state_.task_count(t);
  for (auto& e : entities_) {
    if (auto* p = std::get_if<task_created>(&e.payload); p && p->team == t) {
      if (!state_.task(t, p->task)) ++n;
    }
  }
  return n;
}

task_id live_view::latest_task(const team_id& t, const agent_id& a) {
  auto l = state_.latest_session_of(a);
  if (l && l->team != t) l.reset();
  for (auto& e : entities_) {
    auto* p = std::get_if<session_opened>(&e.payload);
    if (!p || p->team != t || p->agent != a) continue;
    if (!l || later_than(e.time, p->session, *l))
      l = latest_session{t, p->session, p->task, e.time};
  }
  return l ? l->task : task_id{};
}

namespace {

// The ids under an entity key prefix ("team/", "task/acme/"), from the state, in order.
std::vector<std::string> ids_under(ledger_state& state, const std::string& prefix) {
  std::vector<std::string> ids;
  state.scan_entities(prefix, [&](std::string_view k, std::string_view) {
    ids.emplace_back(k.substr(prefix.size()));
  });
  return ids;
}

template <class Id>
void add_id(std::vector<std::string>& ids, const Id& id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id.str());
  if (it == ids.end() || *it != id.str()) ids.insert(it, id.str());
}

}  // namespace

std::vector<std::pair<team_id, team_record>> live_view::teams() {
  auto ids = ids_under(state_, "team/");
  for (auto& e : entities_) {
    if (auto* p = std::get_if<team_created>(&e.payload)) add_id(ids, p->team);
  }
  std::vector<std::pair<team_id, team_record>> out;
  for (auto& id : ids) {
    if (auto r = team(team_id{id})) out.emplace_back(team_id{id}, std::move(*r));
  }
  return out;
}

std::vector<std::pair<agent_id, agent_record>> live_view::agents(const team_id& t) {
  auto ids = ids_under(state_, "agent/");
  for (auto& e : entities_) {
    if (auto* p = std::get_if<agent_registered>(&e.payload)) add_id(ids, p->agent);
  }
  std::vector<std::pair<agent_id, agent_record>> out;
  for (auto& id : ids) {
    if (auto r = agent(agent_id{id}); r && r->team == t) out.emplace_back(agent_id{id}, *r);
  }
  return out;
}

std::vector<std::pair<task_id, task_record>> live_view::tasks(const team_id& t) {
  auto ids = ids_under(state_, "task/" + t.str() + "/");
  for (auto& e : entities_) {
    if (auto* p = std::get_if<task_created>(&e.payload); p && p->team == t) add_id(ids, p->task);
  }
  std::vector<std::pair<task_id, task_record>> out;
  for (auto& id : ids) {
    if (auto r = task(t, task_id{id})) out.emplace_back(task_id{id}, std::move(*r));
  }
  return out;
}

std::vector<std::pair<session_id, session_record>> live_view::sessions(const team_id& t) {
  auto ids = ids_under(state_, "session/" + t.str() + "/");
  for (auto& e : entities_) {
    if (auto* p = std::get_if<session_opened>(&e.payload); p && p->team == t) {
      add_id(ids, p->session);
    }
  }
  std::vector<std::pair<session_id, session_record>> out;
  for (auto& id : ids) {
    if (auto r = session(t, session_id{id})) out.emplace_back(session_id{id}, std::move(*r));
  }
  return out;
}

void live_view::write_through(std::function<void(const event&, fold_outcome)> on_fold) {
  on_fold_ = std::move(on_fold);
}

bool live_view::echo(const event& e) {
  return echo(event_team(e).str(), e.id.str());
}

void live_view::expect_echo(std::string_view team, std::string_view id) {
  written_.insert(ledger_state::dedup_key(team, id));
}

bool live_view::echo(std::string_view team, std::string_view id) {
  if (written_.empty()) return false;
  return written_.erase(ledger_state::dedup_key(team, id)) > 0;
}

void live_view::add_pending(const event& e) {
  if (!on_fold_) return add_tentative(e);
  const auto outcome = state_.apply(e);
  ++written_count_;
  on_fold_(e, outcome);
}

bool live_view::remove_pending(const event& e) {
  // Written through: its effect stays in the state (the owner stops when an append fails).
  if (on_fold_ && echo(e)) return true;
  return remove_tentative(e);
}

void live_view::add_tentative(const event& e) {
  const auto& team = event_team(e);
  pending_ids_.insert(pending_key(team, e.id.str()));
  if (auto* u = std::get_if<usage_recorded>(&e.payload)) {
    if (!u->agent.empty()) {
      auto& [t, n] = agents_.try_emplace(u->agent.str(), u->team, 0).first->second;
      ++n;
    }
    for_each_total(*u, false, [&](const std::string& k, const totals& d) { deltas_[k] += d; });
    pending_answers_[pending_key(team, e.id.str())] = original_of(*u, false);
    usage_log_[usage_log_key(u->team, u->occurred_at, e.id)] = encode_usage_log_row(*u, false);
  } else if (auto* r = std::get_if<usage_rejected>(&e.payload)) {
    for_each_total(*r, true, [&](const std::string& k, const totals& d) { deltas_[k] += d; });
    pending_answers_[pending_key(team, e.id.str())] = original_of(*r, true);
    usage_log_[usage_log_key(r->team, r->occurred_at, e.id)] = encode_usage_log_row(*r, true);
  } else {
    entities_.push_back(e);
    if (overlay_) {
      overlay_->state.apply(e);
      overlay_->state.evict_clean();
    }
  }
}

bool live_view::remove_tentative(const event& e) {
  const auto& team = event_team(e);
  if (pending_ids_.erase(pending_key(team, e.id.str())) == 0) return false;
  pending_answers_.erase(pending_key(team, e.id.str()));
  auto sub = [&](const std::string& k, const totals& d) {
    auto it = deltas_.find(k);
    if (it == deltas_.end()) return;
    it->second -= d;
    if (it->second == totals{}) deltas_.erase(it);
  };
  if (auto* u = std::get_if<usage_recorded>(&e.payload)) {
    if (auto it = agents_.find(u->agent.str()); it != agents_.end() && --it->second.second == 0) {
      agents_.erase(it);
    }
    for_each_total(*u, false, sub);
    usage_log_.erase(usage_log_key(u->team, u->occurred_at, e.id));
  } else if (auto* r = std::get_if<usage_rejected>(&e.payload)) {
    for_each_total(*r, true, sub);
    usage_log_.erase(usage_log_key(r->team, r->occurred_at, e.id));
  } else {
    auto it = std::find_if(entities_.begin(), entities_.end(),
                           [&](const event& x) { return x.id == e.id && event_team(x) == team; });
    if (it != entities_.end()) entities_.erase(it);
    overlay_.reset();
  }
  return true;
}

void live_view::clear_pending() {
  written_.clear();
  agents_.clear();
  deltas_.clear();
  pending_ids_.clear();
  pending_answers_.clear();
  entities_.clear();
  overlay_.reset();
  usage_log_.clear();
}

void live_view::scan_usage_log(std::string_view from, std::string_view to,
                               const std::function<bool(std::string_view, std::string_view)>& f) {
  // Backwards over the pending rows in [from, to): from the last key below `to`.
  auto next = std::make_reverse_iterator(usage_log_.lower_bound(std::string(to)));
  auto end = std::make_reverse_iterator(usage_log_.lower_bound(std::string(from)));
  bool go = true;
  state_.scan_usage_log(from, to, [&](std::string_view k, std::string_view v) {
    for (; go && next != end && next->first >= k; ++next) {
      if (next->first == k) continue;  // folded meanwhile: the same row
      go = f(next->first, next->second);
    }
    if (go) go = f(k, v);
    return go;
  });
  for (; go && next != end; ++next) go = f(next->first, next->second);
}

limit_set effective_global_limits(live_view& s, const limit_policy& p) {
  if (auto l = s.limits_ptr("g")) return *l;
  return p.global;
}

limit_set effective_team_limits(live_view& s, const limit_policy& p, const team_id& t) {
  if (auto l = s.limits_ptr("t/" + t.str())) return *l;
  if (auto it = p.teams.find(t.str()); it != p.teams.end()) return it->second;
  return p.team_default;
}

limit_set effective_agent_limits(live_view& s, const limit_policy& p, const agent_id& a) {
  if (auto l = s.limits_ptr("a/" + a.str())) return *l;
  if (auto it = p.agents.find(a.str()); it != p.agents.end()) return it->second;
  return p.agent_default;
}

decision decide_usage(live_view& live, const decide_context& ctx, const usage_report& r,
                      std::optional<report_ref> ref, const session_record* session) {
  decision d;
  event_id id =
      !r.id.empty() ? r.id
      : ref ? event_id{"r-" + std::to_string(ref->partition) + "-" + std::to_string(ref->offset)}
            : event_id{};
  if (id.empty() || r.team.empty()) {
    d.reason = "no_identity";
    return d;
  }
  // A retry of a known report is a duplicate however late it comes.
  if (live.seen(r.team, id)) {
    d.what = verdict::duplicate;
    d.reason = "duplicate";
    return d;
  }
  // Agent ids are unique in the org: an agent reporting under a second team is a client bug,
  // and counting it would make the agent's record depend on the order partitions are folded.
  if (!r.agent.empty()) {
    if (auto owner = live.agent_team(r.agent); owner && *owner != r.team) {
      d.reason = "agent_in_other_team";
      return d;
    }
  }
  const time_ms at = r.occurred_at.value_or(ctx.now);
  if (at > ctx.now + ctx.future_skew_ms) {
    d.reason = "future";
    return d;
  }
  if (at < ctx.now - ctx.late_grace_ms) {
    d.reason = "too_late";
    return d;
  }

  auto team = live.team_ptr(r.team);
  const date::time_zone* zone = find_zone(team ? team->timezone : "UTC");
  if (!zone) zone = find_zone("UTC");

  // The event is built where it will stay (the decision's first event, in the caller's vector
  // when it gives one): no copy or move of the decided record. A report refused before the end
  // (queued, unknown reservation) drops it.
  std::vector<event>& events = ctx.out ? *ctx.out : d.events;
  const std::size_t first = events.size();
  event& e = events.emplace_back();
  e.id = id;
  e.time = at;
  e.source = ctx.source;
  usage_decided& u = e.payload.emplace<usage_recorded>();
  u.team = r.team;
  u.agent = r.agent;
  u.session = r.session;
  u.task = r.task;
  u.model = r.model;
  u.effort = r.effort;
  u.tokens = r.tokens;
  u.occurred_at = at;
  auto p = periods_of(at, zone);
  u.day = std::move(p.day);
  u.month = std::move(p.month);
  u.epoch = ctx.epoch;
  u.report = ref;
  u.request_hash = r.request_hash;
  if (r.cost) {
    u.cost = *r.cost;
    u.source = cost_source::reported;
  } else if (auto priced = ctx.pricing ? ctx.pricing->price(r.model, r.tokens, at) : std::nullopt) {
    u.cost = priced->cost;
    u.source = cost_source::computed;
    u.price_version = priced->version;
  } else {
    u.cost = nanos{0};
    u.source = cost_source::unpriced;
  }
  if (ctx.pricing && u.source == cost_source::reported) {
    if (auto* v = ctx.pricing->version_at(at)) u.price_version = v->id;
  }

  // Every enclosing scope's limits.
  static const limit_policy no_policy;
  const limit_policy& policy = ctx.policy ? *ctx.policy : no_policy;
  std::vector<check> checks;
  std::vector<threshold_line> lines;  // the cost limits, for the alert thresholds
  // A scope's totals are read only when it has a limit to check them against (most have none).
  auto day_month = [&](const std::string& scope) {
    return std::pair{live.get(totals_key(scope, window_day, u.day)),
                     live.get(totals_key(scope, window_month, u.month))};
  };
  // Through the batch's memo when there is one.
  auto global_limits = [&]() -> limit_set {
    if (!ctx.memo) return effective_global_limits(live, policy);
    if (!ctx.memo->global) ctx.memo->global = effective_global_limits(live, policy);
    return *ctx.memo->global;
  };
  // A team's or an agent's limits, read once per batch by their id (one lookup; the memo's
  // nodes stay put, and without a memo the limits are kept in `own`). A read that throws leaves
  // no entry: the batch's next item must not take "no limits" from it.
  auto memoized = [&](std::unordered_map<std::string, limit_set>* memo, const std::string& id,
                      limit_set& own, auto read) -> const limit_set& {
    if (!memo) return own = read();
    auto [it, fresh] = memo->try_emplace(id);
    if (fresh) {
      try {
        it->second = read();
      } catch (...) {
        memo->erase(it);
        throw;
      }
    }
    return it->second;
  };
  limit_set own_team_limits, own_agent_limits;
  auto team_limits_of = [&](const team_id& t) -> const limit_set& {
    return memoized(ctx.memo ? &ctx.memo->teams : nullptr, t.str(), own_team_limits,
                    [&] { return effective_team_limits(live, policy, t); });
  };
  auto agent_limits_of = [&](const agent_id& a) -> const limit_set& {
    return memoized(ctx.memo ? &ctx.memo->agents : nullptr, a.str(), own_agent_limits,
                    [&] { return effective_agent_limits(live, policy, a); });
  };
  if (const limit_set global = global_limits(); global.has_window_limits()) {
    const utc_day utc = utc_day_of(at);
    totals day = live.get(totals_key("g", window_day, utc.day()));
    totals month = live.get(totals_key("g", window_month, utc.month()));
    add_window_checks(checks, "global", global, day, month, u, lines, alert_scope_kind::global,
                      "global", utc.day(), utc.month());
  }
  if (const limit_set& team_limits = team_limits_of(u.team); team_limits.has_window_limits()) {
    auto [day, month] = day_month(scope_team(u.team));
    add_window_checks(checks, "team:" + u.team.str(), team_limits, day, month, u, lines,
                      alert_scope_kind::team, u.team.str(), u.day, u.month);
  }
  static const limit_set no_limits;
  const limit_set& agent_limits = u.agent.empty() ? no_limits : agent_limits_of(u.agent);
  if (!u.agent.empty() && agent_limits.has_window_limits()) {
    auto [day, month] = day_month(scope_agent(u.team, u.agent));
    add_window_checks(checks, "agent:" + u.agent.str(), agent_limits, day, month, u, lines,
                      alert_scope_kind::agent, u.agent.str(), u.day, u.month);
  }
  if (!u.task.empty()) {
    if (auto task = live.task(u.team, u.task); task && task->budget) {
      auto spent = live.get(totals_key(scope_task(u.team, u.task), window_lifetime, "-"));
      // A task cap ends the run that crosses it; later reports on the task are refused.
      checks.push_back({"task:" + u.task.str() + ":lifetime:cost", spent.cost_nanos,
                        task->budget->count, u.cost.count, !u.session.empty()});
      lines.push_back({alert_scope_kind::task, u.task.str(), "lifetime", "-", spent.cost_nanos,
                       task->budget->count});
    }
  }
  if (!u.session.empty() && (agent_limits.cost_per_run || agent_limits.tokens_per_run)) {
    auto spent = live.get(totals_key(scope_session(u.team, u.session), window_lifetime, "-"));
    if (agent_limits.cost_per_run) {
      checks.push_back({"session:" + u.session.str() + ":run:cost", spent.cost_nanos,
                        agent_limits.cost_per_run->count, u.cost.count, true});
      lines.push_back({alert_scope_kind::session, u.session.str(), "run", "-", spent.cost_nanos,
                       agent_limits.cost_per_run->count});
    }
    if (agent_limits.tokens_per_run) {
      checks.push_back({"session:" + u.session.str() + ":run:tokens", spent.tokens(),
                        *agent_limits.tokens_per_run, u.tokens.total(), true});
    }
  }

  // A queued session has not started: its reports are not decided (not counted).
  std::optional<session_status> status;
  if (session) {
    status = session->status;
  } else if (!u.session.empty()) {
    status = live.status(u.team, u.session);
  }
  if (status == session_status::queued) {
    events.erase(events.begin() + static_cast<std::ptrdiff_t>(first), events.end());
    d.reason = "session_queued";
    return d;
  }
  // The reservation the report settles, when it still holds (reservations.h).
  std::optional<reservation_record> settles;
  if (!r.reservation.empty()) {
    auto res = reservation_of(live, u.team, r.reservation);
    if (!res || res->session != u.session) {
      events.erase(events.begin() + static_cast<std::ptrdiff_t>(first), events.end());
      d.reason = "reservation_not_found";
      return d;
    }
    if (res->status_at(ctx.now) == "held") settles = std::move(res);
  }
  if (!checks.empty()) {
    bool global_cost = false;
    for (auto& c : checks) global_cost = global_cost || c.name.starts_with("global:");
    const auto held = held_for(live, u.team, u.agent, u.task, u.session, ctx.now, global_cost,
                               settles ? std::string_view(settles->id) : std::string_view());
    for (auto& c : checks) {
      if (!c.name.ends_with(":cost")) continue;
      c.held = c.name.starts_with("global:")    ? held.global
               : c.name.starts_with("team:")    ? held.team
               : c.name.starts_with("agent:")   ? held.agent
               : c.name.starts_with("task:")    ? held.task
               : c.name.starts_with("session:") ? held.session
                                                : 0;
    }
  }

  // Refused: the session is over, or a hard limit was already reached before this report
  // (others' reservations counting as spent). A report settling its reservation had its room
  // held: only a session that is over refuses it.
  std::string refusal;
  if (status && *status != session_status::active) {
    refusal = "session_" + std::string(to_string(*status));
  }
  for (auto& c : checks) {
    if (refusal.empty() && !settles && c.spent + c.held >= c.limit) {
      refusal = "limit_reached:" + c.name;
    }
  }
  if (!refusal.empty()) {
    u.over_budget = true;
    u.stop = true;
    u.reason = refusal;
    d.what = verdict::rejected;
    d.reason = refusal;
    e.payload = usage_rejected{std::move(u)};  // built before the variant changes
    return d;
  }

  // Recorded; the report that crosses a limit is accepted and told to stop.
  std::string terminate_reason;  // the run limit that ends the session, when one is crossed
  for (auto& c : checks) {
    if (c.spent + c.held + c.adding >= c.limit) {
      if (!u.over_budget) u.reason = "crossed:" + c.name;
      u.over_budget = true;
      u.stop = true;
      if (c.per_run && terminate_reason.empty()) terminate_reason = "crossed:" + c.name;
    }
  }
  d.what = verdict::recorded;
  d.reason = u.reason;
  bool terminate = !terminate_reason.empty();
  std::string reason = terminate_reason;
  // What follows reads these copies: events grows (e and u may move).
  const team_id team_of = u.team;
  const session_id session_of = u.session;
  const nanos cost = u.cost;
  add_threshold_events(live, policy, team_of, lines, cost.count, events[first], events);
  if (settles) {
    event rel;
    rel.id = event_id{"settle-" + settles->id};
    rel.time = ctx.now;
    rel.source = ctx.source;
    rel.payload = reservation_released{team_of, settles->id, session_of, "settled", cost, id};
    events.push_back(std::move(rel));
  }
  if (terminate) {
    event t;
    t.id = event_id{"terminated-" + session_of.str()};
    t.time = at;
    t.source = ctx.source;
    t.payload = session_terminated{team_of, session_of, reason};
    events.push_back(std::move(t));
    // The slot it held goes to the team's queue, in the same decision (slots.h).
    const std::span<const event> decided(events.data() + first, events.size() - first);
    for (auto& a : activate_queued(live, policy, team_of, ctx.now, ctx.source, decided)) {
      events.push_back(std::move(a));
    }
  }
  return d;
}

}  // namespace tally
