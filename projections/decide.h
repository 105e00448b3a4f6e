// The decision on a usage report: record it, record it and tell the agent to stop, or refuse
// it, as DESIGN.md section 2 says. A pure function of the live state (projected state plus the
// events decided but not yet folded), the limits and the report; the time of the decision is
// an input, not a clock read, so tests and replays are exact.
// Thread-safety: none; called by the owner of the team's partition only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "projections/ledger_state.h"
#include "schemas/events.h"
#include "schemas/pricing.h"

namespace tally {

// Limits from configuration; a LimitsSet event for a scope replaces them for that scope.
struct limit_policy {
  limit_set global;
  limit_set team_default;
  limit_set agent_default;
  std::map<std::string, limit_set> teams;
  std::map<std::string, limit_set> agents;
  // Alert thresholds and channel switches (config.yaml's alerts:); AlertThresholdsSet events
  // replace them per team or globally (projections/thresholds.h).
  std::vector<alert_threshold_spec> thresholds = default_threshold_specs();
  std::vector<alert_channel> notifications = {{"in_app", true}};
};

// Projected state plus decided-but-not-yet-folded events: what a decision, and every read that
// must see the node's own acknowledged writes, is made against.
class live_view {
 public:
  explicit live_view(ledger_state& state) : state_(state) {}

  ledger_state& state() { return state_; }
  totals get(const std::string& key);
  bool seen(const team_id& t, const event_id& id);
  // The answer a decided usage event gave (pending or folded).
  std::optional<original_answer> original(const team_id& t, const event_id& id);
  std::optional<session_status> status(const team_id& t, const session_id& s);
  // The team an agent belongs to: registered, or used by a decided-but-unfolded event.
  std::optional<team_id> agent_team(const agent_id& a);

  // Entities with the pending entity events applied over the projected ones.
  std::optional<team_record> team(const team_id& t);
  std::optional<agent_record> agent(const agent_id& a);
  std::optional<task_record> task(const team_id& t, const task_id& k);
  std::optional<session_record> session(const team_id& t, const session_id& s);
  std::optional<team_id> session_team(const session_id& s);
  std::optional<limit_set> limits(std::string_view scope_key);
  // The same without copying the record when no pending entity event changes it (every
  // usage report reads these): the state's cached record, or a copy with the overlay applied.
  std::shared_ptr<const team_record> team_ptr(const team_id& t);
  std::shared_ptr<const agent_record> agent_ptr(const agent_id& a);
  std::shared_ptr<const session_record> session_ptr(const team_id& t, const session_id& s);
  std::shared_ptr<const limit_set> limits_ptr(std::string_view scope_key);
  std::int64_t task_count(const team_id& t);
  // The task of the agent's latest session in the team (pending sessions included); empty when
  // the agent has none, or none with a task.
  task_id latest_task(const team_id& t, const agent_id& a);
  // An entity row with the pending entity events folded over the projected state by the same
  // fold (an overlay state, rebuilt after a pending event leaves): the derived rows of
  // slots.h and reservations.h are read through these.
  std::optional<std::string> entity_row(std::string_view key);
  void scan_entity_rows(std::string_view prefix,
                        const std::function<void(std::string_view, std::string_view)>& f);

  // Listings, in id order, pending entities included.
  std::vector<std::pair<team_id, team_record>> teams();
  std::vector<std::pair<agent_id, agent_record>> agents(const team_id& t);
  std::vector<std::pair<task_id, task_record>> tasks(const team_id& t);
  std::vector<std::pair<session_id, session_record>> sessions(const team_id& t);
  // Usage log rows in [from, to) (projections/usage_log.h), pending rows included, last key
  // first, while f returns true.
  void scan_usage_log(std::string_view from, std::string_view to,
                      const std::function<bool(std::string_view, std::string_view)>& f);

  // An event was decided and handed to the producer.
  void add_pending(const event& e);
  // The event was folded (or will never be): its effect now lives in the state, or nowhere.
  // True when it was pending.
  bool remove_pending(const event& e);
  std::size_t pending() const { return pending_ids_.size() + written_.size(); }

  // Write-through (the partition owner, the only writer of its state): add_pending folds the
  // event into the state at once and calls on_fold. When the writer hands the event to the log
  // as a record of its own it calls expect_echo, and the live view remembers its id until that
  // record comes back, which echo() then recognises (the fold skips it); the writer knows the
  // records that hold several events itself. Nothing is kept beside the state, so decisions
  // and reads pay for no overlay. The state then holds events the log may not have yet:
  // whoever drains it writes a batch only once every event in it is durable, and a failed
  // append means the state is wrong (the owner stops).
  // Tentative events (add_tentative) always go to the overlay.
  void write_through(std::function<void(const event&, fold_outcome)> on_fold);
  bool writes_through() const { return static_cast<bool>(on_fold_); }
  // A written-through event leaves as its own record: its echo is to be recognised.
  void expect_echo(std::string_view team, std::string_view id);
  // True (once) when e was written through, expected, and is now read back from the log.
  bool echo(const event& e);
  // The same by the event's team and id (a record's key and ce_id), without decoding it.
  bool echo(std::string_view team, std::string_view id);
  // Events written through so far (the owner checks each was also appended).
  std::uint64_t written_count() const { return written_count_; }
  // Pending in the overlay whatever the mode, and removed again (slots.h's with_tentative).
  void add_tentative(const event& e);
  bool remove_tentative(const event& e);
  // The pending events other than usage, in decision order (alerts read their overlay here).
  const std::vector<event>& pending_entities() const { return entities_; }
  void clear_pending();

 private:
  ledger_state& state_;
  std::unordered_map<std::string, totals> deltas_;
  std::unordered_set<std::string> pending_ids_;
  std::unordered_map<std::string, original_answer> pending_answers_;
  std::function<void(const event&, fold_outcome)> on_fold_;  // set: write-through
  std::unordered_set<std::string> written_;  // written through, not read back from the log yet
  std::uint64_t written_count_ = 0;
  std::vector<event> entities_;  // pending entity events (not usage), in decision order
  std::map<std::string, std::string> usage_log_;  // pending usage log rows by key
  std::unordered_map<std::string, std::pair<team_id, int>> agents_;  // agent -> (team, events)
  struct overlay;
  struct overlay_deleter {
    void operator()(overlay* o) const;
  };
  std::unique_ptr<overlay, overlay_deleter> overlay_;  // null: rebuilt at the next read
  ledger_state& overlay_state();
};

// The limits in force per scope, read once for the decisions of one batch (nothing a usage
// decision appends changes a limit). Good only while the caller holds the team's state: limits
// set after it is filled are not seen.
struct limits_memo {
  std::optional<limit_set> global;
  std::unordered_map<std::string, limit_set> teams, agents;
};

struct decide_context {
  const pricing_table* pricing = nullptr;
  const limit_policy* policy = nullptr;
  time_ms now = 0;                         // when the decision is made
  time_ms late_grace_ms = 7 * 86'400'000;  // older reports are refused
  time_ms future_skew_ms = 5 * 60'000;     // reports further ahead are refused
  std::int64_t epoch = 0;                  // the owner's epoch for the partition
  std::string source = "tally";
  limits_memo* memo = nullptr;  // set: the decisions of one batch share their limits reads
  // Set (decide_usage): the decision's events are appended to *out, after what it holds, and
  // decision::events stays empty, so a batch's decisions build its append in place.
  std::vector<event>* out = nullptr;
};

enum class verdict { recorded, rejected, duplicate, invalid };

struct decision {
  verdict what = verdict::invalid;
  std::string reason;         // machine-readable: "future", "too_late", "limit_reached:..."
  std::vector<event> events;  // to append to the ledger, in order
};

// Decides a report. Its identity is r.id, or "r-<partition>-<offset>" when it came from the
// reports topic without one.
// session: the report's session record when the caller has read it already (spares a lookup).
decision decide_usage(live_view& live, const decide_context& ctx, const usage_report& r,
                      std::optional<report_ref> ref, const session_record* session = nullptr);

// The limits in force for a team and for an agent (events first, then configuration).
limit_set effective_global_limits(live_view& s, const limit_policy& p);
limit_set effective_team_limits(live_view& s, const limit_policy& p, const team_id& t);
limit_set effective_agent_limits(live_view& s, const limit_policy& p, const agent_id& a);

}  // namespace tally
