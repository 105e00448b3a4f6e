#include "projections/budget.h"

#include <algorithm>

#include "projections/reservations.h"

namespace tally {
namespace {

// The lines of one scope's limits (named prefix + id), against its day and month totals.
void add_lines(budget_view& v, std::string_view prefix, std::string_view id, const limit_set& l,
               const totals& day, const totals& month, time_ms day_reset, time_ms month_reset,
               std::int64_t held) {
  auto line = [&](const char* window, const char* metric, std::int64_t limit, std::int64_t spent,
                  time_ms reset) {
    const std::int64_t reserved = std::string_view(metric) == "cost" ? held : 0;
    std::string name(prefix);
    name.append(id);
    budget_line b{
        std::move(name), window,         metric,
        limit,           spent,          std::max<std::int64_t>(0, limit - spent - reserved),
        reset,           spent >= limit, reserved};
    v.over_budget = v.over_budget || b.reached;
    v.lines.push_back(std::move(b));
  };
  if (l.cost_per_day) line("day", "cost", l.cost_per_day->count, day.cost_nanos, day_reset);
  if (l.cost_per_month) {
    line("month", "cost", l.cost_per_month->count, month.cost_nanos, month_reset);
  }
  if (l.tokens_per_day) line("day", "tokens", *l.tokens_per_day, day.tokens(), day_reset);
  if (l.tokens_per_month) {
    line("month", "tokens", *l.tokens_per_month, month.tokens(), month_reset);
  }
}

// The same for a scope whose totals are read only when it has a limit.
void add_scope(budget_view& v, live_view& live, std::string_view prefix, std::string_view id,
               const std::string& scope, const limit_set& l, const periods& p, time_ms day_reset,
               time_ms month_reset, std::int64_t held) {
  if (!l.has_window_limits()) return;
  add_lines(v, prefix, id, l, live.get(totals_key(scope, window_day, p.day)),
            live.get(totals_key(scope, window_month, p.month)), day_reset, month_reset, held);
}

}  // namespace

budget_view budget_of(live_view& live, const limit_policy& policy, const team_id& team,
                      const agent_id& agent, const task_id& task, time_ms now) {
  auto rec = live.team(team);
  const date::time_zone* zone = find_zone(rec ? rec->timezone : "UTC");
  if (!zone) zone = find_zone("UTC");
  auto p = periods_of(now, zone);
  time_ms day_reset = next_day_start(now, zone);
  time_ms month_reset = next_month_start(now, zone);

  budget_view v;
  const limit_set global = effective_global_limits(live, policy);
  const bool global_cost = global.cost_per_day || global.cost_per_month;
  const held_amounts held = held_for(live, team, agent, task, session_id{}, now, global_cost);
  // Org-wide limits count in UTC days and months.
  const date::time_zone* utc_zone = find_zone("UTC");
  add_scope(v, live, "global", "", "g", global, periods_of(now, utc_zone),
            next_day_start(now, utc_zone), next_month_start(now, utc_zone), held.global);
  add_scope(v, live, "team:", team.str(), scope_team(team),
            effective_team_limits(live, policy, team), p, day_reset, month_reset, held.team);
  if (!agent.empty()) {
    // The agent's totals are answered whether it has a limit or not.
    const std::string scope = scope_agent(team, agent);
    const totals day = live.get(totals_key(scope, window_day, p.day));
    const totals month = live.get(totals_key(scope, window_month, p.month));
    v.agent_day_cost_nanos = day.cost_nanos;
    v.agent_month_cost_nanos = month.cost_nanos;
    v.rejected_cost_nanos = month.rejected_cost_nanos;
    add_lines(v, "agent:", agent.str(), effective_agent_limits(live, policy, agent), day, month,
              day_reset, month_reset, held.agent);
  }
  if (!task.empty()) {
    if (auto t = live.task(team, task); t && t->budget) {
      auto spent = live.get(totals_key(scope_task(team, task), window_lifetime, "-")).cost_nanos;
      budget_line b{"task:" + task.str(),
                    "lifetime",
                    "cost",
                    t->budget->count,
                    spent,
                    std::max<std::int64_t>(0, t->budget->count - spent - held.task),
                    0,
                    spent >= t->budget->count,
                    held.task};
      v.over_budget = v.over_budget || b.reached;
      v.lines.push_back(std::move(b));
    }
  }
  return v;
}

std::string render(const budget_view& v) {
  std::string out;
  auto amount = [](const budget_line& b, std::int64_t x) {
    return b.metric == "cost" ? format_usd(nanos{x}) : std::to_string(x);
  };
  for (auto& b : v.lines) {
    out += b.scope + " " + b.window + " " + b.metric + " limit=" + amount(b, b.limit) +
           " spent=" + amount(b, b.spent) +
           (b.reserved ? " reserved=" + amount(b, b.reserved) : std::string()) +
           " remaining=" + amount(b, b.remaining) +
           (b.resets_at ? " resets=" + format_rfc3339(b.resets_at) : std::string()) +
           (b.reached ? " REACHED" : "") + "\n";
  }
  out += "over_budget=" + std::string(v.over_budget ? "true" : "false") +
         " rejected_cost=" + format_usd(nanos{v.rejected_cost_nanos}) + "\n";
  return out;
}

}  // namespace tally
