// Decisions on the API's entity commands — create a team, register an agent, create a task,
// open and end a session, set limits — as pure functions of the live state, like decide_usage:
// each answers with the events to append, or a refusal saying why. The handler turns the
// refusal into an HTTP status; nothing here knows HTTP.
// Thread-safety: none; called under the owner's state lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "projections/budget.h"
#include "projections/decide.h"

namespace tally {

enum class refusal {
  none,
  invalid,     // the command is malformed (400/422)
  not_found,   // a team, agent, task or session it names does not exist (404)
  conflict,    // it contradicts what exists (409)
  over_budget  // an enclosing hard limit is already reached (402)
};

struct command_decision {
  refusal refused = refusal::none;
  std::string code;                  // machine-readable reason: "team_exists", "limit_reached", ...
  std::string detail;                // for people
  std::optional<budget_line> limit;  // the reached limit, when over_budget
  std::vector<event> events;         // to append, in order (empty: nothing changes)
};

struct command_context {
  const limit_policy* policy = nullptr;
  time_ms now = 0;
  std::string source = "tally";
  event_id id;  // the identity of the event the command creates (idempotency key)
};

command_decision decide_create_team(live_view& live, const command_context& ctx,
                                    const team_created& c);
command_decision decide_register_agent(live_view& live, const command_context& ctx,
                                       const agent_registered& c);
// An empty c.task is numbered: the team's task count + 1.
command_decision decide_create_task(live_view& live, const command_context& ctx, task_created c);
command_decision decide_open_session(live_view& live, const command_context& ctx,
                                     const session_opened& c);
command_decision decide_end_session(live_view& live, const command_context& ctx,
                                    const session_ended& c);
command_decision decide_set_limits(live_view& live, const command_context& ctx,
                                   const limits_set& c);

// The cost cap of a task from its tags: the last "budget:X" (X in USD, exact); nullopt when none.
// A malformed budget tag is an error.
struct budget_tag {
  std::optional<nanos> budget;
  bool malformed = false;
};
budget_tag budget_from_tags(const std::vector<std::string>& tags);

}  // namespace tally
