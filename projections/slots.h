// Concurrency limits (max_concurrent_agents): how many sessions are active in each scope, the
// FIFO queue of each team, and the decision that activates queued sessions when slots free.
// The counters and the queue are entity rows derived by the fold (keys in keys.h); decisions
// read them through the live view.
//
// Rule. A session opened while an enclosing max_concurrent_agents (global, team or agent) is
// reached by active sessions is opened queued. Whenever a decision of the team frees a slot or
// raises a limit — a session ends or is terminated, limits are set — and also at every session
// open, the oldest queued sessions of the team that now fit are activated, in FIFO order, by
// SessionActivated events in the same decision. "Fits" means: one more active session stays
// within every enclosing concurrency limit, and no enclosing hard budget limit is reached
// (spent + reserved >= limit); a session that does not fit stays queued and later ones may pass
// it (an agent at its own limit does not block the team). The queue is per team (one partition,
// serial decisions): a slot of the global limit freed in one team is taken by that team's queue
// first, and by another team's queue at that team's next decision — FIFO holds within a team.
// Every active session counts, including one opened implicitly by a report.
// Thread-safety: none; called by the owner of the team's partition (fold or decision).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "projections/decide.h"

namespace tally {

// The fold's part: keeps the counters and the queue in step with a session's status change.
void fold_slots(ledger_state& s, const team_id& t, const session_id& id,
                const std::optional<session_record>& before, const session_record& after);

// Active sessions of a scope: "g" | "t/" team | "a/" agent (live).
std::int64_t active_sessions(live_view& live, std::string_view scope_key);

struct queued_session {
  session_id session;
  agent_id agent;
};
// The team's queue, oldest first (live).
std::vector<queued_session> queue_of(live_view& live, const team_id& t);
// 1-based place of a session in its team's queue; 0 when it is not queued.
std::int64_t queue_position(live_view& live, const team_id& t, const session_id& s);

// The concurrency limit one more active session of the agent would exceed, if any. `extra`
// counts sessions activated by the same decision, by scope key ("g", "t/x", "a/x").
struct slot_limit {
  std::string scope;  // "global", "team:acme", "agent:eng-1"
  std::int64_t limit = 0;
  std::int64_t active = 0;
};
std::optional<slot_limit> concurrency_reached(
    live_view& live, const limit_policy& policy, const team_id& team, const agent_id& agent,
    const std::map<std::string, std::int64_t, std::less<>>* extra = nullptr);

// The SessionActivated events for the queued sessions of the team that fit, oldest first, as
// the decision that already holds `decided` (events of the same decision, taken into account
// as if appended) would leave things. Ids are "activate-" + session id.
std::vector<event> activate_queued(live_view& live, const limit_policy& policy, const team_id& team,
                                   time_ms now, const std::string& source,
                                   std::span<const event> decided);

// Runs f with events added to the live view as pending, then takes them out again: how a
// decision sees the effect of its own earlier events.
void with_tentative(live_view& live, std::span<const event> events, const std::function<void()>& f);

}  // namespace tally
