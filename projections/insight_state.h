// Dismissed optimisation insights: the fold row an InsightDismissed event writes, the team's
// dismissals read over the live view, and the decision to dismiss one (under the team's lock,
// like acknowledging an alert), so a dismissal survives restarts and replays.
// Row: 'insight/' team '/' insight_id -> {"dismissed_at": ms, "by": str} (projections/keys.h).
// Thread-safety: none; called by the owner of the team's partition only.
#pragma once

#include <map>
#include <string>

#include "projections/commands.h"

namespace tally {

struct insight_dismissal {
  time_ms at = 0;
  std::string by;
};

// The team's dismissed insights by insight id, pending dismissals included.
std::map<std::string, insight_dismissal> dismissed_insights(live_view& live, const team_id& team);

// The fold of an InsightDismissed: the first dismissal of an insight is kept.
void fold_insight_dismissed(ledger_state& s, const event& e);

// The id of the event that dismisses an insight: "dismiss:<insight id>", or "dismiss:" and 32
// hex digits of its SHA-256 when that would be longer than an id may be.
event_id dismissal_event_id(const std::string& insight);

// Dismissing an insight: not_found when the team does not exist, or when the insight is neither
// among the team's insights now (`listed`) nor dismissed already; nothing to do when it is
// dismissed already (a retry).
command_decision decide_dismiss_insight(live_view& live, const command_context& ctx,
                                        const team_id& team, const std::string& insight,
                                        const std::string& by, bool listed);

}  // namespace tally
