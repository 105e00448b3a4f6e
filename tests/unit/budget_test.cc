#include "projections/budget.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

event usage(const std::string& id, const std::string& day, std::int64_t cost_nanos,
            const std::string& task = "") {
  usage_recorded u;
  u.team = team_id{"acme"};
  u.agent = agent_id{"eng-1"};
  u.task = task_id{task};
  u.model = "sonnet";
  u.tokens = {1000, 100, 0, 0};
  u.cost = nanos{cost_nanos};
  u.occurred_at = *parse_rfc3339(day + "T12:00:00Z");
  u.day = day;
  u.month = day.substr(0, 7);
  return event{event_id{id}, u.occurred_at, "test", u};
}

TEST(Budget, TightestScopesWithSpentRemainingAndResetInTheTeamZone) {
  ledger_state state;
  state.apply(event{event_id{"t"}, 0, "test", team_created{team_id{"acme"}, "Acme", "Asia/Tokyo"}});
  task_created task{team_id{"acme"}, task_id{"594"},  "Fix typo",        "low",
                    "bugfix",        {"budget:0.50"}, nanos{500'000'000}};
  state.apply(event{event_id{"k"}, 0, "test", task});
  state.apply(usage("u1", "2026-11-24", 3'420'000'000, "594"));
  live_view live(state);
  limit_policy policy;
  policy.team_default.cost_per_day = nanos{5'000'000'000};

  // 2026-11-24T01:00Z is 10:00 in Tokyo, day 2026-11-24; the day resets at 15:00Z.
  auto now = *parse_rfc3339("2026-11-24T01:00:00Z");
  auto v = budget_of(live, policy, team_id{"acme"}, agent_id{"eng-1"}, task_id{"594"}, now);
  EXPECT_EQ(render(v),
            "team:acme day cost limit=5 spent=3.42 remaining=1.58 "
            "resets=2026-11-24T15:00:00.000Z\n"
            "task:594 lifetime cost limit=0.5 spent=3.42 remaining=0 REACHED\n"
            "over_budget=true rejected_cost=0\n");
}

TEST(Budget, OverBudgetOnlyWhenALimitIsReachedAndPendingUsageCounts) {
  ledger_state state;
  live_view live(state);
  limit_policy policy;
  policy.team_default.cost_per_day = nanos{5'000'000'000};
  auto now = *parse_rfc3339("2026-11-24T13:00:00Z");
  state.apply(usage("u1", "2026-11-24", 4'999'999'999));
  EXPECT_FALSE(budget_of(live, policy, team_id{"acme"}, agent_id{}, task_id{}, now).over_budget);
  // Decided but not folded yet: the live view includes it.
  live.add_pending(usage("u2", "2026-11-24", 1));
  auto v = budget_of(live, policy, team_id{"acme"}, agent_id{}, task_id{}, now);
  EXPECT_TRUE(v.over_budget);
  ASSERT_EQ(v.lines.size(), 1u);
  EXPECT_EQ(v.lines[0].remaining, 0);
  // The next day in UTC starts afresh.
  auto tomorrow = *parse_rfc3339("2026-11-25T00:00:01Z");
  EXPECT_FALSE(
      budget_of(live, policy, team_id{"acme"}, agent_id{}, task_id{}, tomorrow).over_budget);
}

}  // namespace
}  // namespace tally
