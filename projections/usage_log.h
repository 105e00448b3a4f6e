// The usage log: one row per decided usage event (UsageRecorded and UsageRejected), written by
// the fold in the same WriteBatch as the totals, ordered by team then event time then event id,
// so a page of GET /api/v1/usage (newest first) is one backward range scan. Rows keep the day they
// belong to so retention (90 days) can drop whole ranges. Layout in projections/keys.h; the store
// keeps rows close in time in blocks (usage_blocks.h), which the readers open.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "schemas/events.h"

namespace tally {

// One row, decoded.
struct usage_log_row {
  team_id team;
  event_id id;
  time_ms occurred_at = 0;
  std::string day;  // in the team's zone, as decided
  bool rejected = false;
  agent_id agent;
  session_id session;
  task_id task;
  std::string model;
  std::string effort;
  token_counts tokens;
  nanos cost;
  cost_source source = cost_source::computed;
  std::string price_version;
  std::string reason;
};

// Times outside [0, usage_log_max_ms] are clamped into it in keys.
inline constexpr time_ms usage_log_max_ms = 9'999'999'999'999;

// team '/' time (13 digits, ms) '/' event_id
std::string usage_log_key(const team_id& team, time_ms occurred_at, const event_id& id);
// A bound below every key of the team's rows at time t and above those before: team '/' time.
std::string usage_log_bound(const team_id& team, time_ms t);
// team '/': every row of the team.
std::string usage_log_prefix(const team_id& team);
std::string encode_usage_log_row(const usage_decided& u, bool rejected);
// nullopt when the key or the value is not a usage log row.
std::optional<usage_log_row> decode_usage_log_row(std::string_view key, std::string_view value);

}  // namespace tally
