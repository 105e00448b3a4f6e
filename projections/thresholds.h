// Budget thresholds: which thresholds a decision crosses or resolves, the alert ids derived from
// (scope, window, period, threshold), the alert state and feed read over the live view, and the
// decisions on acknowledging an alert and on setting a team's thresholds. Pure functions of the
// live state and their inputs, like decide_usage: the fold (projections/alert_fold.cc) writes
// what these decide, so a replay reaches the same alerts.
// Thread-safety: none; called by the owner of the team's partition only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "projections/commands.h"

namespace tally {

// One enclosing cost limit a usage report counts against.
struct threshold_line {
  alert_scope_kind kind = alert_scope_kind::team;
  std::string scope_id;  // "global" for the org
  std::string window;    // day | month | lifetime | run
  std::string period;
  std::int64_t spent = 0;  // before the report
  std::int64_t limit = 0;
};

// "thr:<kind>:<team>:<scope id>:<window>:<period>:<percent>" ('%' and ':' in components
// escaped as %25 and %3A; the team only for task and session scopes). alert_id adds
// ":<occurrence>" from the second crossing of a period on (after a resolution).
std::string alert_base_id(const alert_subject& s);
event_id alert_id(const alert_subject& s);
// The id of the resolution of an alert.
event_id resolution_id(const event_id& alert);

// The smallest amount that reaches `percent` of `limit` (ceil(limit * percent / 100)).
std::int64_t threshold_amount(std::int64_t limit, int percent);

// {percent} {level} {scope} {scope_id} {window} {period} {limit_usd} {spent_usd}
// {remaining_usd} replaced; anything else kept as written.
std::string render_message(const std::string& tmpl, const alert_subject& s);

// The thresholds in force for a team: its own AlertThresholdsSet, else the global one, else the
// configuration's (limit_policy::thresholds). source: "team" | "global" | "config".
struct threshold_config {
  std::vector<alert_threshold_spec> thresholds;
  std::vector<alert_channel> notifications;
  std::string source;
};
threshold_config effective_thresholds(live_view& live, const limit_policy& p, const team_id& t);
// The delivery channels (email, webhook) the configuration switches off, sorted.
std::vector<std::string> channels_off(const threshold_config& c);

// The state of one (scope, window, period, threshold): its last occurrence, and whether that
// crossing is active (not resolved). Pending decisions included.
struct alert_status {
  std::int64_t occurrence = 0;
  bool active = false;
};
alert_status alert_state(live_view& live, const std::string& base_id);

// Appends a BudgetThresholdCrossed for every threshold the report (adding `adding` nanos to each
// line) takes a line over, every one of them when it jumps several, and a
// BudgetThresholdResolved for the active alerts of the line's previous period when the report is
// the first spend of a new period. `cause` is the decided usage event.
void add_threshold_events(live_view& live, const limit_policy& p, const team_id& team,
                          const std::vector<threshold_line>& lines, std::int64_t adding,
                          const event& cause, std::vector<event>& out);

// A limit change (`cause` holds the LimitsSet): crossings for the thresholds a lowered or new
// limit puts the scope's current day and month over, resolutions for the active ones a raised
// or removed limit takes it back under.
void add_limit_change_alerts(live_view& live, const limit_policy& p, const limits_set& c,
                             const event& cause, std::vector<event>& out);

// One alert of the feed: the crossing and what happened to it since.
struct alert_row {
  budget_threshold_crossed crossed;
  event_id id;
  bool acknowledged = false;
  time_ms acknowledged_at = 0;
  std::string acknowledged_by;
  bool resolved = false;
  time_ms resolved_at = 0;
  std::string resolved_reason;
};
// Every alert, newest first (time, then id), pending decisions included.
std::vector<alert_row> alert_feed(live_view& live);
std::optional<alert_row> find_alert(live_view& live, const event_id& id);

// Acknowledging an alert: not_found when no such alert is in the team; nothing to do when it is
// acknowledged already (a retry).
command_decision decide_ack_alert(live_view& live, const command_context& ctx, const team_id& team,
                                  const event_id& alert, const std::string& by);
// Setting thresholds (team, or global when c.team is empty): percent 1..10000, a known level,
// no percent twice; sorted by percent.
command_decision decide_set_thresholds(live_view& live, const command_context& ctx,
                                       alert_thresholds_set c);

// Feed rows as the store keeps them (projections/keys.h: 'alert/' time '/' id).
std::string encode_alert_row(const alert_row& r);
std::optional<alert_row> decode_alert_row(std::string_view json);

}  // namespace tally
