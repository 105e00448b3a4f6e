// The runs (sessions) of a team with what each used, newest first: what the run log
// (GET /api/v1/sessions), its high-token flag and the optimisation insights are computed from.
// Read over the live view, so the node's own acknowledged sessions and usage are in it.
// Thread-safety: none; reads the state of the calling owner (under the team's lock).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "projections/decide.h"

namespace date {
class time_zone;
}

namespace tally {

// One run: the session record and its lifetime totals (accepted and rejected usage).
struct run_facts {
  session_id id;
  session_record record;
  totals used;
};

// Every session of the team, newest first: by opened_at, then by id, both descending.
std::vector<run_facts> team_runs(live_view& live, const team_id& team);

// The newest-first order of team_runs: true when a comes before b.
bool newer_run(const run_facts& a, const run_facts& b);

// True for a run that is over: completed, failed or terminated.
bool run_ended(session_status s);

// A run has "high tokens" when its total tokens are more than high_token_factor times the
// median total of its agent's ended runs in the team, and the agent has at least
// high_token_min_runs ended runs (a median of fewer says little). The median of an even count
// is the mean of the two middle runs, rounded down. Active runs are flagged against the same
// threshold but do not count in the median (their totals are still growing).
inline constexpr std::int64_t high_token_factor = 3;
inline constexpr std::size_t high_token_min_runs = 5;
struct agent_run_stats {
  std::int64_t median_tokens = 0;
  std::size_t ended_runs = 0;
  // Runs with more tokens than this are high; nullopt when the agent has too few ended runs.
  std::optional<std::int64_t> high_above;
};
std::map<agent_id, agent_run_stats> run_stats_by_agent(const std::vector<run_facts>& runs);

// The team's IANA zone (UTC when the team or its zone is unknown).
const date::time_zone* team_zone_of(live_view& live, const team_id& team);

// How far into its month an instant is, in a zone: the month "YYYY-MM", the day of the month
// (1-based, today counted whole) and the month's length in days. Monthly projections scale
// what the month has so far by days / day.
struct month_progress {
  std::string month;
  int day = 1;
  int days = 30;
};
month_progress month_progress_of(time_ms t, const date::time_zone* zone);

// The runs of `runs` opened in the month of `p` (in the zone), in the same order.
std::vector<run_facts> runs_in_month(const std::vector<run_facts>& runs, const month_progress& p,
                                     const date::time_zone* zone);

}  // namespace tally
