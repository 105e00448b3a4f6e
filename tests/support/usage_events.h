// A UsageRecorded event for unit tests: team "acme", agent "eng-1", model "opus", 10 input and 2
// output tokens, cost 1,000 + i nano-dollars, at t0 + i ms (2026-11-23), id "u<i>".
#pragma once

#include <string>

#include "schemas/events.h"

namespace tally::testing {

inline constexpr time_ms usage_t0 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

inline event usage_event(int i) {
  usage_decided u;
  u.team = team_id{"acme"};
  u.agent = agent_id{"eng-1"};
  u.model = "opus";
  u.tokens = {.input = 10, .output = 2};
  u.cost = nanos{1'000 + i};
  u.occurred_at = usage_t0 + i;
  u.day = "2026-11-23";
  u.month = "2026-11";
  event e;
  e.id = event_id{"u" + std::to_string(i)};
  e.time = u.occurred_at;
  e.payload = usage_recorded{u};
  return e;
}

}  // namespace tally::testing
