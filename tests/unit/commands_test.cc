// The entity commands of the API (projections/commands.h): each is decided against the live
// state, pending events included, so a second command sees the first before it is folded; and
// the decisions refuse exactly what DESIGN.md section 2 refuses.
#include "projections/commands.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

const time_ms now = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

class commands : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx.policy = &policy;
    ctx.now = now;
  }
  // Decides with a fresh event id and keeps the events pending (appended, not folded).
  template <class F, class C>
  command_decision run(F f, C c) {
    ctx.id = event_id{"c" + std::to_string(++n)};
    auto d = f(live, ctx, c);
    for (auto& e : d.events) live.add_pending(e);
    return d;
  }
  void open_team() {
    ASSERT_EQ(
        run(decide_create_team, team_created{team_id{"acme"}, "Acme", "Europe/Paris"}).refused,
        refusal::none);
    ASSERT_EQ(run(decide_register_agent,
                  agent_registered{team_id{"acme"}, agent_id{"eng-1"}, "Eng 1", "claude"})
                  .refused,
              refusal::none);
  }
  limit_policy policy;
  ledger_state state;
  live_view live{state};
  command_context ctx;
  int n = 0;
};

TEST_F(commands, a_team_is_created_once_and_the_same_request_again_changes_nothing) {
  auto d = run(decide_create_team, team_created{team_id{"acme"}, "Acme", "Europe/Paris"});
  ASSERT_EQ(d.refused, refusal::none);
  ASSERT_EQ(d.events.size(), 1u);
  // Pending, not folded: the live view already has it.
  ASSERT_TRUE(live.team(team_id{"acme"}));
  EXPECT_EQ(live.team(team_id{"acme"})->timezone, "Europe/Paris");
  auto again = run(decide_create_team, team_created{team_id{"acme"}, "Acme", "Europe/Paris"});
  EXPECT_EQ(again.refused, refusal::none);
  EXPECT_TRUE(again.events.empty());
  auto other = run(decide_create_team, team_created{team_id{"acme"}, "ACME", "UTC"});
  EXPECT_EQ(other.refused, refusal::conflict);
  EXPECT_EQ(other.code, "team_exists");
  EXPECT_EQ(run(decide_create_team, team_created{team_id{"x"}, "X", "Mars/Base"}).code,
            "bad_timezone");
  EXPECT_EQ(run(decide_create_team, team_created{team_id{"a/b"}, "X", "UTC"}).code, "bad_id");
}

TEST_F(commands, agents_need_a_team_and_belong_to_one) {
  EXPECT_EQ(
      run(decide_register_agent, agent_registered{team_id{"acme"}, agent_id{"a"}, "", ""}).code,
      "team_not_found");
  open_team();
  run(decide_create_team, team_created{team_id{"beta"}, "Beta", "UTC"});
  auto d = run(decide_register_agent,
               agent_registered{team_id{"beta"}, agent_id{"eng-1"}, "Eng 1", "claude"});
  EXPECT_EQ(d.refused, refusal::conflict);
  EXPECT_EQ(d.code, "agent_in_other_team");
  EXPECT_EQ(live.agents(team_id{"acme"}).size(), 1u);
  EXPECT_TRUE(live.agents(team_id{"beta"}).empty());
}

TEST_F(commands, tasks_are_numbered_and_a_budget_tag_sets_their_cap_exactly) {
  open_team();
  task_created t{team_id{"acme"}, task_id{}, "Fix typo", "low", "bugfix", {"budget:0.50"}, {}};
  auto d = run(decide_create_task, t);
  ASSERT_EQ(d.refused, refusal::none);
  auto& p = std::get<task_created>(d.events.at(0).payload);
  EXPECT_EQ(p.task.str(), "1");
  EXPECT_EQ(p.budget, std::optional<nanos>{nanos{500'000'000}});
  EXPECT_EQ(std::get<task_created>(run(decide_create_task, t).events.at(0).payload).task.str(),
            "2");
  t.tags = {"budget:lots"};
  EXPECT_EQ(run(decide_create_task, t).code, "bad_budget_tag");
  t.tags = {"budget:1.2e-1"};
  auto e = run(decide_create_task, t);
  EXPECT_EQ(std::get<task_created>(e.events.at(0).payload).budget,
            std::optional<nanos>{nanos{120'000'000}});
  ASSERT_EQ(live.tasks(team_id{"acme"}).size(), 3u);
  EXPECT_EQ(live.task_count(team_id{"acme"}), 3);
}

TEST_F(commands, a_session_is_refused_with_the_limit_when_an_enclosing_scope_is_exhausted) {
  open_team();
  session_opened s{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s1"}, task_id{}, "sonnet", ""};
  ASSERT_EQ(run(decide_open_session, s).refused, refusal::none);
  EXPECT_EQ(live.session_team(session_id{"s1"}), std::optional<team_id>{team_id{"acme"}});
  // The same request again changes nothing; another with the same id is a conflict.
  auto again = run(decide_open_session, s);
  EXPECT_EQ(again.refused, refusal::none);
  EXPECT_TRUE(again.events.empty());
  auto other = s;
  other.model = "opus";
  EXPECT_EQ(run(decide_open_session, other).code, "session_exists");

  limit_set l;
  l.cost_per_day = nanos{1'000'000};
  ASSERT_EQ(
      run(decide_set_limits, limits_set{team_id{"acme"}, limit_scope::team, "acme", l}).refused,
      refusal::none);
  // Spend the whole day's limit (a folded usage event).
  event u;
  u.id = event_id{"u1"};
  u.time = now;
  usage_recorded r;
  r.team = team_id{"acme"};
  r.agent = agent_id{"eng-1"};
  r.cost = nanos{1'000'000};
  r.occurred_at = now;
  r.day = "2026-11-23";
  r.month = "2026-11";
  u.payload = r;
  live.add_pending(u);
  s.session = session_id{"s2"};
  auto d = run(decide_open_session, s);
  EXPECT_EQ(d.refused, refusal::over_budget);
  ASSERT_TRUE(d.limit);
  EXPECT_EQ(d.limit->scope, "team:acme");
  EXPECT_EQ(d.limit->window, "day");
  EXPECT_EQ(d.limit->limit, 1'000'000);
  EXPECT_EQ(d.limit->spent, 1'000'000);
  EXPECT_TRUE(d.events.empty());
}

TEST_F(commands, ending_a_session_twice_the_same_way_is_a_retry_another_way_a_conflict) {
  open_team();
  run(decide_open_session,
      session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s1"}, {}, "m", ""});
  session_ended end{team_id{"acme"}, session_id{"s1"}, session_status::completed};
  ASSERT_EQ(run(decide_end_session, end).events.size(), 1u);
  EXPECT_EQ(live.status(team_id{"acme"}, session_id{"s1"}), session_status::completed);
  auto again = run(decide_end_session, end);
  EXPECT_EQ(again.refused, refusal::none);
  EXPECT_TRUE(again.events.empty());
  end.status = session_status::failed;
  EXPECT_EQ(run(decide_end_session, end).code, "session_not_active");
  end.session = session_id{"nope"};
  EXPECT_EQ(run(decide_end_session, end).refused, refusal::not_found);
}

TEST_F(commands, pending_entities_leave_the_overlay_when_folded_and_stay_visible) {
  open_team();
  auto d = run(decide_open_session,
               session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s1"}, {}, "m", ""});
  EXPECT_EQ(live.teams().size(), 1u);
  EXPECT_EQ(live.sessions(team_id{"acme"}).size(), 1u);
  // Folded, then dropped from the pending set: the state answers alone.
  for (auto& e : d.events) {
    state.apply(e);
    EXPECT_TRUE(live.remove_pending(e));
  }
  auto s = live.session(team_id{"acme"}, session_id{"s1"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->agent.str(), "eng-1");
  EXPECT_EQ(state.session_team(session_id{"s1"}), std::optional<team_id>{team_id{"acme"}});
}

}  // namespace
}  // namespace tally
