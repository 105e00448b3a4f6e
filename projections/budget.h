// Budget state: for an agent (and optionally a task), every enclosing limit with what was spent
// against it in the current period, what remains and when the period resets; over_budget when
// any hard limit is reached. Derived from the totals and the limits at a given instant — the
// view the decision uses, rendered for people and, later, the budget endpoint.
// Thread-safety: none; reads the state of the calling owner.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "projections/decide.h"

namespace tally {

// remaining = limit - spent - reserved, never below zero: what a new reservation may take.
struct budget_line {
  std::string scope;   // "global", "team:acme", "agent:eng-1", "task:594"
  std::string window;  // "day", "month", "lifetime"
  std::string metric;  // "cost" (nanos) or "tokens"
  std::int64_t limit = 0;
  std::int64_t spent = 0;
  std::int64_t remaining = 0;  // never below zero
  time_ms resets_at = 0;       // 0 for lifetime
  bool reached = false;        // spent >= limit (what over_budget means)
  std::int64_t reserved = 0;   // held by open reservations (cost only; reservations.h)
};

struct budget_view {
  std::vector<budget_line> lines;           // only scopes that have a limit
  std::int64_t rejected_cost_nanos = 0;     // of the agent this month: spent after told to stop
  std::int64_t agent_day_cost_nanos = 0;    // of the agent, in the team's day and month (its
  std::int64_t agent_month_cost_nanos = 0;  // spent whether or not it has a limit)
  bool over_budget = false;
};

budget_view budget_of(live_view& live, const limit_policy& policy, const team_id& team,
                      const agent_id& agent, const task_id& task, time_ms now);

// One line per limit: "team:acme day cost limit=5 spent=3.42 remaining=1.58 resets=...".
std::string render(const budget_view& v);

}  // namespace tally
