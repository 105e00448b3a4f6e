// Reservations: budget held for a session before an expensive call, so that concurrent writers
// never overshoot a limit. The reservation rows and each team's list of open holds are entity
// rows derived by the fold (keys in keys.h); decisions read them through the live view.
//
// Rule (every enclosing hard cost limit L — global, team, agent for day and month, the task's
// lifetime budget, the session's max_cost_per_run — with spent S in the current period and
// held H = the amounts of the open reservations inside L's scope that have not expired):
//   * a reservation of amount A is taken only when S + H + A <= L for every such L, and no
//     enclosing hard limit is already reached (tokens included); else 402 naming the limit;
//   * a new session is refused 402 when S + H >= L for some L;
//   * a usage report without a reservation is refused when S + H >= L (others' holds count as
//     spent); the report that crosses is recorded as before (S + H + cost >= L: told to stop);
//   * a report settling a held, unexpired reservation of its session is recorded whatever S
//     and H are (its room was held) and releases the reservation in the same decision (event
//     ReservationReleased "settled" with the actual cost); if actual > reserved it is still
//     recorded (it was spent) and the answer says so.
// So with every spend reserved first, S <= L always: zero overshoot.
// Held amounts count in the current day and month of the decision, whenever they were taken.
// Expiry needs no event: a hold counts while now < expires_at; the fold drops expired holds
// from the open list (status "expired") when it folds a later reservation event of the team,
// by that event's time. Ending or terminating a session releases its holds in the fold
// (status "session_ended"). Global holds are summed over the teams of this node (exact on one
// node, like the global totals).
// Thread-safety: none; called by the owner of the team's partition (fold or decision).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "projections/commands.h"

namespace tally {

// The fold's part: ReservationHeld / ReservationReleased.
void fold_reservation(ledger_state& s, const event& e);
// The fold's part when a session ends or is terminated: its open holds are released.
void fold_session_closed(ledger_state& s, const team_id& t, const session_id& session);

struct reservation_record {
  std::string id;
  session_id session;
  agent_id agent;
  task_id task;
  nanos amount;
  time_ms held_at = 0;
  time_ms expires_at = 0;
  std::string status;  // held | settled | released | expired | session_ended
  std::optional<nanos> actual;
  std::string usage_event;
  std::string request_hash;
  // The status at an instant: a held reservation is "expired" from expires_at on.
  std::string status_at(time_ms now) const {
    return status == "held" && expires_at <= now ? "expired" : status;
  }
};
std::optional<reservation_record> reservation_of(live_view& live, const team_id& t,
                                                 std::string_view id);

// Amounts held at `now` in each kind of scope enclosing a report or a session (the hold
// `except` — the one a report settles — left out). global is summed only when asked.
struct held_amounts {
  std::int64_t global = 0, team = 0, agent = 0, task = 0, session = 0;
};
held_amounts held_for(live_view& live, const team_id& team, const agent_id& agent,
                      const task_id& task, const session_id& session, time_ms now, bool with_global,
                      std::string_view except = {});

struct reserve_command {
  team_id team;
  session_id session;
  std::string reservation;  // its id
  nanos amount;
  time_ms ttl_ms = 300'000;
  std::string request_hash;
};
inline constexpr time_ms max_reservation_ttl_ms = 86'400'000;

// 402 when it does not fit (see the rule) or the session is over, 409 when it is queued, 404
// for an unknown session, 422 for a reservation id reused with another request; no events for
// the same request again. Event id "hold-" + reservation id.
command_decision decide_reserve(live_view& live, const command_context& ctx,
                                const reserve_command& c);
// Releases a held reservation (event id "release-" + id); nothing when it no longer holds.
command_decision decide_release(live_view& live, const command_context& ctx, const team_id& team,
                                const session_id& session, std::string_view reservation);

}  // namespace tally
