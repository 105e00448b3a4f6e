// The decision on a usage report (DESIGN.md section 2): cost (reported, computed at the price
// version in force, or unpriced), time checks, dedup against folded and pending events, and the
// limits of every enclosing scope -- the crossing report is recorded and told to stop, the next
// one is refused; a per-run limit terminates the session.
#include "projections/decide.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tally {
namespace {

const time_ms now = 1'795'428'000'000;  // 2026-11-23T10:00:00Z
constexpr time_ms minute = 60'000;
constexpr time_ms day = 86'400'000;

time_ms at(std::string_view t) {
  return *parse_rfc3339(t);
}

// Sonnet at $3 / $15 per million (cache write 1.25x = $3.75, cache read 0.1x = $0.30).
price_version sonnet_version(std::string id, time_ms from, std::int64_t in_usd,
                             std::int64_t out_usd) {
  price_version v;
  v.id = std::move(id);
  v.effective_from_ms = from;
  v.models["sonnet"] =
      make_model_price(nanos{in_usd * nanos_per_usd}, nanos{out_usd * nanos_per_usd});
  v.aliases.emplace_back("claude-sonnet-4*", "sonnet");
  return v;
}

usage_report report(std::string id, std::optional<std::int64_t> cost_nanos = std::nullopt) {
  usage_report r;
  r.id = event_id{std::move(id)};
  r.team = team_id{"acme"};
  r.agent = agent_id{"eng-1"};
  r.model = "claude-sonnet-4-5";
  r.effort = "high";
  r.tokens = {.input = 1000, .output = 200, .cache_creation = 100, .cache_read = 300};
  if (cost_nanos) r.cost = nanos{*cost_nanos};
  r.occurred_at = now;
  return r;
}

event ev(std::string id, event_payload p) {
  event e;
  e.id = event_id{std::move(id)};
  e.time = now - day;
  e.payload = std::move(p);
  return e;
}

class decide : public ::testing::Test {
 protected:
  void SetUp() override {
    pricing.add(sonnet_version("p-v1", at("2026-01-01T00:00:00Z"), 3, 15));
    ctx.pricing = &pricing;
    ctx.policy = &policy;
    ctx.now = now;
    ctx.epoch = 3;
    policy.thresholds.clear();  // the alerts a crossing adds: thresholds_test.cc
  }
  // Decides and folds the events into the state, as the projector would.
  decision decide_and_fold(const usage_report& r) {
    auto d = decide_usage(live, ctx, r, std::nullopt);
    for (auto& e : d.events) state.apply(e);
    return d;
  }
  static const usage_decided& usage_of(const decision& d) {
    if (auto* r = std::get_if<usage_recorded>(&d.events.at(0).payload)) return *r;
    return std::get<usage_rejected>(d.events.at(0).payload);
  }
  std::int64_t team_day_spent(std::string_view d = "2026-11-23") {
    return live.get(totals_key("t/acme", window_day, d)).cost_nanos;
  }

  pricing_table pricing;
  limit_policy policy;
  decide_context ctx;
  ledger_state state;
  live_view live{state};
};

TEST_F(decide, computed_cost_for_a_known_model) {
  auto d = decide_usage(live, ctx, report("r1"), std::nullopt);
  ASSERT_EQ(d.what, verdict::recorded);
  ASSERT_EQ(d.events.size(), 1u);
  const auto& e = d.events[0];
  EXPECT_EQ(e.id.str(), "r1");
  EXPECT_EQ(e.time, now);
  EXPECT_EQ(event_type_name(e.payload), "tally.usage_recorded.v1");
  const auto& u = usage_of(d);
  // 1000 x $3 + 200 x $15 + 100 x $3.75 + 300 x $0.30 per million
  //   = (3e12 + 3e12 + 3.75e11 + 9e10) / 1e6 nanos = 6'465'000 nanos.
  EXPECT_EQ(u.cost.count, 6'465'000);
  EXPECT_EQ(u.source, cost_source::computed);
  EXPECT_EQ(u.price_version, "p-v1");
  EXPECT_EQ(u.tokens, report("r1").tokens);
  EXPECT_EQ(u.team.str(), "acme");
  EXPECT_EQ(u.agent.str(), "eng-1");
  EXPECT_EQ(u.model, "claude-sonnet-4-5");
  EXPECT_EQ(u.effort, "high");
  EXPECT_EQ(u.day, "2026-11-23");
  EXPECT_EQ(u.month, "2026-11");
  EXPECT_EQ(u.occurred_at, now);
  EXPECT_EQ(u.epoch, 3);
  EXPECT_FALSE(u.over_budget);
  EXPECT_FALSE(u.stop);
  EXPECT_EQ(u.reason, "");
  EXPECT_FALSE(u.report);
}

TEST_F(decide, reported_cost_wins) {
  auto d = decide_usage(live, ctx, report("r1", 12'000'000), std::nullopt);
  ASSERT_EQ(d.what, verdict::recorded);
  const auto& u = usage_of(d);
  EXPECT_EQ(u.cost.count, 12'000'000);  // not the computed 6'465'000
  EXPECT_EQ(u.source, cost_source::reported);
  EXPECT_EQ(u.price_version, "p-v1");  // the version in force is still recorded
}

TEST_F(decide, unknown_model_is_unpriced) {
  auto r = report("r1");
  r.model = "mystery-1";
  auto d = decide_usage(live, ctx, r, std::nullopt);
  ASSERT_EQ(d.what, verdict::recorded);
  const auto& u = usage_of(d);
  EXPECT_EQ(u.cost.count, 0);
  EXPECT_EQ(u.source, cost_source::unpriced);
  EXPECT_EQ(u.price_version, "");
  // Without any pricing table, everything without cost_usd is unpriced.
  ctx.pricing = nullptr;
  auto d2 = decide_usage(live, ctx, report("r2"), std::nullopt);
  EXPECT_EQ(usage_of(d2).source, cost_source::unpriced);
}

TEST_F(decide, price_version_is_chosen_by_event_time) {
  pricing.add(sonnet_version("p-v2", at("2026-11-20T00:00:00Z"), 6, 30));
  auto one_million_input = [&](std::string id, time_ms t) {
    auto r = report(std::move(id));
    r.tokens = {.input = 1'000'000};
    r.occurred_at = t;
    return decide_usage(live, ctx, r, std::nullopt);
  };
  auto before = one_million_input("r1", at("2026-11-19T23:59:59.999Z"));
  EXPECT_EQ(usage_of(before).price_version, "p-v1");
  EXPECT_EQ(usage_of(before).cost.count, 3'000'000'000);  // 1M x $3/M
  auto after = one_million_input("r2", at("2026-11-20T00:00:00Z"));
  EXPECT_EQ(usage_of(after).price_version, "p-v2");
  EXPECT_EQ(usage_of(after).cost.count, 6'000'000'000);  // 1M x $6/M
}

TEST_F(decide, time_checks) {
  auto with_time = [&](std::string id, time_ms t) {
    auto r = report(std::move(id));
    r.occurred_at = t;
    return decide_usage(live, ctx, r, std::nullopt);
  };
  auto future = with_time("f", now + 5 * minute + 1);
  EXPECT_EQ(future.what, verdict::invalid);
  EXPECT_EQ(future.reason, "future");
  EXPECT_TRUE(future.events.empty());
  EXPECT_EQ(with_time("f0", now + 5 * minute).what, verdict::recorded);  // at the edge
  auto late = with_time("l", now - 7 * day - 1);
  EXPECT_EQ(late.what, verdict::invalid);
  EXPECT_EQ(late.reason, "too_late");
  EXPECT_TRUE(late.events.empty());
  auto edge = with_time("l0", now - 7 * day);
  EXPECT_EQ(edge.what, verdict::recorded);
  EXPECT_EQ(usage_of(edge).day, "2026-11-16");  // a late report lands in its own period
  // No time: the decision time.
  auto r = report("n");
  r.occurred_at.reset();
  EXPECT_EQ(usage_of(decide_usage(live, ctx, r, std::nullopt)).occurred_at, now);
}

TEST_F(decide, identity) {
  auto r = report("");
  auto from_topic = decide_usage(live, ctx, r, report_ref{4, 77});
  ASSERT_EQ(from_topic.what, verdict::recorded);
  EXPECT_EQ(from_topic.events[0].id.str(), "r-4-77");
  EXPECT_EQ(usage_of(from_topic).report, (std::optional<report_ref>{report_ref{4, 77}}));
  auto none = decide_usage(live, ctx, r, std::nullopt);
  EXPECT_EQ(none.what, verdict::invalid);
  EXPECT_EQ(none.reason, "no_identity");
}

TEST_F(decide, duplicates_seen_or_pending) {
  decide_and_fold(report("r1"));
  auto again = decide_usage(live, ctx, report("r1"), std::nullopt);
  EXPECT_EQ(again.what, verdict::duplicate);
  EXPECT_TRUE(again.events.empty());
  // Pending, not yet folded.
  auto d2 = decide_usage(live, ctx, report("r2"), std::nullopt);
  ASSERT_EQ(d2.what, verdict::recorded);
  live.add_pending(d2.events[0]);
  EXPECT_EQ(decide_usage(live, ctx, report("r2"), std::nullopt).what, verdict::duplicate);
  // The same id in another team is not a duplicate.
  auto other = report("r1");
  other.team = team_id{"beta"};
  other.agent = agent_id{"beta-1"};  // agent ids are unique in the org
  EXPECT_EQ(decide_usage(live, ctx, other, std::nullopt).what, verdict::recorded);
}

TEST_F(decide, team_day_limit_crossing_then_refusal) {
  policy.team_default.cost_per_day = nanos{50'000'000};  // $0.05 a day
  // $0.02 each: 20M, 40M spent -> recorded; the third brings 60M >= 50M -> recorded, stop.
  for (auto id : {"r1", "r2"}) {
    auto d = decide_and_fold(report(id, 20'000'000));
    ASSERT_EQ(d.what, verdict::recorded) << id;
    EXPECT_FALSE(usage_of(d).over_budget) << id;
  }
  auto crossing = decide_and_fold(report("r3", 20'000'000));
  ASSERT_EQ(crossing.what, verdict::recorded);
  EXPECT_EQ(crossing.reason, "crossed:team:acme:day:cost");
  EXPECT_TRUE(usage_of(crossing).over_budget);
  EXPECT_TRUE(usage_of(crossing).stop);
  EXPECT_EQ(usage_of(crossing).reason, "crossed:team:acme:day:cost");
  EXPECT_EQ(crossing.events.size(), 1u);  // no session to terminate
  EXPECT_EQ(team_day_spent(), 60'000'000);
  // The next one finds the limit already reached: refused, recorded as UsageRejected.
  auto refused = decide_and_fold(report("r4", 20'000'000));
  EXPECT_EQ(refused.what, verdict::rejected);
  EXPECT_EQ(refused.reason, "limit_reached:team:acme:day:cost");
  ASSERT_EQ(refused.events.size(), 1u);
  EXPECT_EQ(event_type_name(refused.events[0].payload), "tally.usage_rejected.v1");
  EXPECT_EQ(usage_of(refused).cost.count, 20'000'000);
  EXPECT_TRUE(usage_of(refused).stop);
  EXPECT_EQ(usage_of(refused).reason, "limit_reached:team:acme:day:cost");
  auto t = live.get(totals_key("t/acme", window_day, "2026-11-23"));
  EXPECT_EQ(t.cost_nanos, 60'000'000);  // unchanged by the refusal
  EXPECT_EQ(t.rejected_cost_nanos, 20'000'000);
  // Another team is not affected; the next day starts afresh.
  auto beta = report("r5", 20'000'000);
  beta.team = team_id{"beta"};
  beta.agent = agent_id{"beta-1"};
  EXPECT_EQ(decide_usage(live, ctx, beta, std::nullopt).what, verdict::recorded);
  ctx.now = now + day;
  auto tomorrow = report("r6", 20'000'000);
  tomorrow.occurred_at = now + day;
  EXPECT_EQ(decide_usage(live, ctx, tomorrow, std::nullopt).what, verdict::recorded);
}

TEST_F(decide, exact_hit_of_the_limit_counts_as_crossing) {
  policy.team_default.cost_per_day = nanos{40'000'000};
  EXPECT_FALSE(usage_of(decide_and_fold(report("r1", 39'999'999))).over_budget);
  auto hit = decide_and_fold(report("r2", 1));  // 39'999'999 + 1 = 40'000'000 >= limit
  EXPECT_TRUE(usage_of(hit).over_budget);
  EXPECT_EQ(decide_and_fold(report("r3", 0)).what, verdict::rejected);
}

TEST_F(decide, pending_overlay_is_seen_by_the_next_decision) {
  policy.team_default.cost_per_day = nanos{50'000'000};
  auto first = decide_usage(live, ctx, report("r1", 40'000'000), std::nullopt);
  ASSERT_EQ(first.what, verdict::recorded);
  live.add_pending(first.events[0]);  // handed to the producer, not folded
  EXPECT_EQ(live.pending(), 1u);
  EXPECT_EQ(team_day_spent(), 40'000'000);
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_day, "2026-11-23")).cost_nanos, 0);
  // 40M pending + 20M = 60M >= 50M.
  auto second = decide_usage(live, ctx, report("r2", 20'000'000), std::nullopt);
  EXPECT_EQ(second.what, verdict::recorded);
  EXPECT_EQ(second.reason, "crossed:team:acme:day:cost");
  // The first event never made it: its effect is gone.
  EXPECT_TRUE(live.remove_pending(first.events[0]));
  EXPECT_FALSE(live.remove_pending(first.events[0]));
  EXPECT_EQ(live.pending(), 0u);
  EXPECT_EQ(team_day_spent(), 0);
  auto again = decide_usage(live, ctx, report("r2", 20'000'000), std::nullopt);
  EXPECT_EQ(again.what, verdict::recorded);
  EXPECT_FALSE(usage_of(again).over_budget);
  // Folded and removed from pending: the state alone carries it, counted once.
  live.add_pending(first.events[0]);
  state.apply(first.events[0]);
  live.remove_pending(first.events[0]);
  EXPECT_EQ(team_day_spent(), 40'000'000);
}

// The partition owner's mode: a decided event is folded into the state at once, its record
// read back from the log is recognised once (and not folded again), tentative events still
// come and go through the overlay.
TEST_F(decide, write_through_folds_at_once_and_knows_its_echo) {
  std::vector<std::pair<std::string, fold_outcome>> folded;
  live.write_through([&](const event& e, fold_outcome o) { folded.emplace_back(e.id.str(), o); });
  policy.team_default.cost_per_day = nanos{50'000'000};
  auto first = decide_usage(live, ctx, report("r1", 40'000'000), std::nullopt);
  ASSERT_EQ(first.what, verdict::recorded);
  live.add_pending(first.events[0]);
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(folded[0], (std::pair{std::string("r1"), fold_outcome::applied}));
  EXPECT_EQ(live.written_count(), 1u);
  // In the state itself, not beside it.
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_day, "2026-11-23")).cost_nanos,
            40'000'000);
  EXPECT_EQ(team_day_spent(), 40'000'000);
  EXPECT_TRUE(state.seen(team_id{"acme"}, event_id{"r1"}));
  auto second = decide_usage(live, ctx, report("r2", 20'000'000), std::nullopt);
  EXPECT_EQ(second.reason, "crossed:team:acme:day:cost");
  EXPECT_EQ(decide_usage(live, ctx, report("r1", 40'000'000), std::nullopt).what,
            verdict::duplicate);
  // Handed to the log as a record of its own, its record comes back once.
  EXPECT_EQ(live.pending(), 0u);
  EXPECT_FALSE(live.echo(first.events[0]));  // not expected (yet): another record holds it
  live.expect_echo("acme", "r1");
  EXPECT_EQ(live.pending(), 1u);
  EXPECT_TRUE(live.echo(first.events[0]));
  EXPECT_FALSE(live.echo(first.events[0]));
  EXPECT_EQ(live.pending(), 0u);
  EXPECT_EQ(team_day_spent(), 40'000'000);  // counted once
  // A tentative event is seen, then gone, and never reaches the state.
  auto third = decide_usage(live, ctx, report("r3", 5'000'000), std::nullopt);
  live.add_tentative(third.events[0]);
  EXPECT_EQ(team_day_spent(), 45'000'000);
  EXPECT_TRUE(live.remove_tentative(third.events[0]));
  EXPECT_EQ(team_day_spent(), 40'000'000);
  EXPECT_EQ(folded.size(), 1u);
  EXPECT_EQ(live.written_count(), 1u);
}

TEST_F(decide, per_run_limit_terminates_the_session) {
  policy.agent_default.cost_per_run = nanos{30'000'000};
  auto on_session = [](std::string id, std::int64_t cost) {
    auto r = report(std::move(id), cost);
    r.session = session_id{"s-1"};
    return r;
  };
  EXPECT_EQ(decide_and_fold(on_session("r1", 20'000'000)).what, verdict::recorded);
  // 20M + 20M = 40M >= 30M: recorded, and the run is terminated.
  auto crossing = decide_usage(live, ctx, on_session("r2", 20'000'000), std::nullopt);
  ASSERT_EQ(crossing.what, verdict::recorded);
  EXPECT_EQ(crossing.reason, "crossed:session:s-1:run:cost");
  ASSERT_EQ(crossing.events.size(), 2u);
  EXPECT_TRUE(usage_of(crossing).stop);
  const auto& term = crossing.events[1];
  EXPECT_EQ(term.id.str(), "terminated-s-1");
  EXPECT_EQ(term.time, now);
  auto* t = std::get_if<session_terminated>(&term.payload);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->team.str(), "acme");
  EXPECT_EQ(t->session.str(), "s-1");
  EXPECT_EQ(t->reason, "crossed:session:s-1:run:cost");
  // Pending: the termination is already visible to the next decision.
  for (auto& e : crossing.events) live.add_pending(e);
  EXPECT_EQ(live.status(team_id{"acme"}, session_id{"s-1"}),
            std::optional<session_status>{session_status::terminated});
  auto after = decide_usage(live, ctx, on_session("r3", 1), std::nullopt);
  EXPECT_EQ(after.what, verdict::rejected);
  EXPECT_EQ(after.reason, "session_terminated");
  // Folded: the same.
  for (auto& e : crossing.events) {
    state.apply(e);
    live.remove_pending(e);
  }
  EXPECT_EQ(state.session(team_id{"acme"}, session_id{"s-1"})->status, session_status::terminated);
  auto folded = decide_usage(live, ctx, on_session("r4", 0), std::nullopt);
  EXPECT_EQ(folded.what, verdict::rejected);
  EXPECT_EQ(folded.reason, "session_terminated");
  EXPECT_EQ(event_type_name(folded.events.at(0).payload), "tally.usage_rejected.v1");
  // Another session of the same agent is still fine.
  auto other = on_session("r5", 1);
  other.session = session_id{"s-2"};
  EXPECT_EQ(decide_usage(live, ctx, other, std::nullopt).what, verdict::recorded);
}

// A batch's decisions write their events straight into its append (decide_context::out): each
// decision's events follow the ones before, a refused report leaves none of its own, and a
// later decision sees the earlier ones' once they are pending.
TEST_F(decide, decisions_into_the_callers_vector_append_their_own_events_only) {
  policy.agent_default.cost_per_run = nanos{30'000'000};
  std::vector<event> out;
  ctx.out = &out;
  auto on_session = [](std::string id, std::int64_t cost) {
    auto r = report(std::move(id), cost);
    r.session = session_id{"s-1"};
    return r;
  };
  auto first = decide_usage(live, ctx, on_session("r1", 20'000'000), std::nullopt);
  EXPECT_EQ(first.what, verdict::recorded);
  EXPECT_TRUE(first.events.empty());
  ASSERT_EQ(out.size(), 1u);
  live.add_pending(out[0]);
  // Refused after its event was begun (no such reservation): nothing of it stays.
  auto unknown = on_session("r2", 1);
  unknown.reservation = "res-none";
  auto refused = decide_usage(live, ctx, unknown, std::nullopt);
  EXPECT_EQ(refused.reason, "reservation_not_found");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id.str(), "r1");
  // Crossing the run limit: its usage event, then the termination, after r1's.
  auto crossing = decide_usage(live, ctx, on_session("r3", 20'000'000), std::nullopt);
  EXPECT_EQ(crossing.what, verdict::recorded);
  EXPECT_TRUE(crossing.events.empty());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].id.str(), "r3");
  EXPECT_TRUE(std::get<usage_recorded>(out[1].payload).stop);
  EXPECT_EQ(out[2].id.str(), "terminated-s-1");
  // The same decisions without the vector give the same events.
  ctx.out = nullptr;
  ledger_state fresh;
  live_view again{fresh};
  auto d1 = decide_usage(again, ctx, on_session("r1", 20'000'000), std::nullopt);
  again.add_pending(d1.events.at(0));
  auto d3 = decide_usage(again, ctx, on_session("r3", 20'000'000), std::nullopt);
  ASSERT_EQ(d3.events.size(), 2u);
  EXPECT_EQ(encode_event(d1.events[0]), encode_event(out[0]));
  EXPECT_EQ(encode_event(d3.events[0]), encode_event(out[1]));
  EXPECT_EQ(encode_event(d3.events[1]), encode_event(out[2]));
}

TEST_F(decide, ended_session_refuses_usage) {
  state.apply(ev("o", session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-1"},
                                     task_id{}, "claude-sonnet-4-5", ""}));
  state.apply(
      ev("x", session_ended{team_id{"acme"}, session_id{"s-1"}, session_status::completed}));
  auto r = report("r1");
  r.session = session_id{"s-1"};
  auto d = decide_usage(live, ctx, r, std::nullopt);
  EXPECT_EQ(d.what, verdict::rejected);
  EXPECT_EQ(d.reason, "session_completed");
}

TEST_F(decide, task_budget_from_task_created) {
  state.apply(
      ev("t",
         task_created{
             team_id{"acme"}, task_id{"594"}, "Fix", "", "", {"budget:0.05"}, nanos{50'000'000}}));
  auto on_task = [](std::string id, std::int64_t cost) {
    auto r = report(std::move(id), cost);
    r.task = task_id{"594"};
    return r;
  };
  EXPECT_FALSE(usage_of(decide_and_fold(on_task("r1", 30'000'000))).over_budget);
  auto crossing = decide_and_fold(on_task("r2", 30'000'000));  // 60M >= 50M
  EXPECT_EQ(crossing.what, verdict::recorded);
  EXPECT_EQ(crossing.reason, "crossed:task:594:lifetime:cost");
  auto refused = decide_and_fold(on_task("r3", 1));
  EXPECT_EQ(refused.what, verdict::rejected);
  EXPECT_EQ(refused.reason, "limit_reached:task:594:lifetime:cost");
  // The budget is lifetime: a later day does not reset it.
  ctx.now = now + 2 * day;
  auto later = on_task("r4", 1);
  later.occurred_at = ctx.now;
  EXPECT_EQ(decide_usage(live, ctx, later, std::nullopt).what, verdict::rejected);
  // Work outside the task is not limited by it.
  EXPECT_EQ(decide_usage(live, ctx, report("r5", 1), std::nullopt).what, verdict::recorded);
}

TEST_F(decide, team_time_zone_decides_the_day) {
  state.apply(ev("team", team_created{team_id{"acme"}, "Acme", "Asia/Tokyo"}));
  ctx.now = at("2026-11-23T16:00:00Z");
  auto r = report("r1");
  r.occurred_at = ctx.now;  // 01:00 on the 24th in Tokyo
  auto d = decide_usage(live, ctx, r, std::nullopt);
  EXPECT_EQ(usage_of(d).day, "2026-11-24");
  EXPECT_EQ(usage_of(d).month, "2026-11");
  // A team without TeamCreated is in UTC.
  auto other = report("r2");
  other.team = team_id{"beta"};
  other.occurred_at = ctx.now;
  EXPECT_EQ(usage_of(decide_usage(live, ctx, other, std::nullopt)).day, "2026-11-23");
  // The limit is checked against the team's own day: spend on the UTC day 23 (= Tokyo 24th
  // from 15:00Z) counts toward the Tokyo day.
  policy.team_default.cost_per_day = nanos{10'000'000};
  auto early = report("r3", 10'000'000);
  early.occurred_at = at("2026-11-23T15:30:00Z");  // 00:30 JST on the 24th
  EXPECT_EQ(decide_and_fold(early).reason, "crossed:team:acme:day:cost");
  auto late = report("r4", 1);
  late.occurred_at = ctx.now;
  EXPECT_EQ(decide_usage(live, ctx, late, std::nullopt).what, verdict::rejected);
  auto before = report("r5", 1);
  before.occurred_at = at("2026-11-23T14:59:00Z");  // 23:59 JST on the 23rd
  EXPECT_EQ(decide_usage(live, ctx, before, std::nullopt).what, verdict::recorded);
}

TEST_F(decide, limits_set_overrides_the_config_policy) {
  policy.team_default.cost_per_day = nanos{50'000'000};
  limit_set tight;
  tight.cost_per_day = nanos{10'000'000};
  state.apply(ev("l1", limits_set{team_id{"acme"}, limit_scope::team, "acme", tight}));
  EXPECT_EQ(effective_team_limits(live, policy, team_id{"acme"}), tight);
  EXPECT_EQ(effective_team_limits(live, policy, team_id{"beta"}).cost_per_day,
            std::optional<nanos>{nanos{50'000'000}});
  // 20M >= 10M (the event's limit), though under the 50M of the configuration.
  EXPECT_EQ(decide_and_fold(report("r1", 20'000'000)).reason, "crossed:team:acme:day:cost");
  // A LimitsSet with no limits removes the team's limits altogether.
  state.apply(ev("l2", limits_set{team_id{"acme"}, limit_scope::team, "acme", limit_set{}}));
  auto big = decide_and_fold(report("r2", 1'000'000'000));
  EXPECT_EQ(big.what, verdict::recorded);
  EXPECT_FALSE(usage_of(big).over_budget);
}

// A store whose first read of an agent's limits fails.
struct failing_limits_read : state_source {
  int failures = 1;
  std::optional<std::string> get(column, std::string_view key) override {
    if (key.starts_with("limits/a/") && failures > 0) {
      --failures;
      throw std::runtime_error("read failed");
    }
    return std::nullopt;
  }
};

TEST(decide_memo, a_failed_limits_read_leaves_no_entry_for_the_batchs_next_decision) {
  failing_limits_read source;
  ledger_state state{&source};
  live_view live{state};
  limit_policy policy;
  policy.agents["eng-1"].cost_per_day = nanos{10'000'000};
  limits_memo memo;
  decide_context ctx;
  ctx.policy = &policy;
  ctx.now = now;
  ctx.memo = &memo;
  EXPECT_THROW(decide_usage(live, ctx, report("r1", 20'000'000), std::nullopt), std::runtime_error);
  // The next item of the same batch reads the agent's limits again: it crosses them, not "no
  // limits".
  EXPECT_EQ(decide_usage(live, ctx, report("r2", 20'000'000), std::nullopt).reason,
            "crossed:agent:eng-1:day:cost");
}

TEST_F(decide, agent_and_global_limits) {
  policy.agents["eng-1"].cost_per_month = nanos{30'000'000};
  EXPECT_EQ(decide_and_fold(report("r1", 30'000'000)).reason, "crossed:agent:eng-1:month:cost");
  auto refused = decide_and_fold(report("r2", 1));
  EXPECT_EQ(refused.reason, "limit_reached:agent:eng-1:month:cost");
  auto other_agent = report("r3", 1);
  other_agent.agent = agent_id{"eng-2"};
  EXPECT_EQ(decide_and_fold(other_agent).what, verdict::recorded);
  // A global token limit from a LimitsSet event: 3 reports of 1600 tokens reach 4800 >= 4000.
  limit_set g;
  g.tokens_per_day = 4'000;
  state.apply(ev("lg", limits_set{team_id{}, limit_scope::global, "", g}));
  auto other_team = report("r4");
  other_team.team = team_id{"beta"};
  other_team.agent = agent_id{"eng-7"};
  // Already spent today (all teams): r1 1600 + r3 1600 (the rejected r2 does not count).
  EXPECT_EQ(decide_and_fold(other_team).reason, "crossed:global:day:tokens");
  other_team.id = event_id{"r5"};
  EXPECT_EQ(decide_and_fold(other_team).reason, "limit_reached:global:day:tokens");
}

}  // namespace
}  // namespace tally
namespace tally {
namespace {

// When one report crosses a team limit and the per-run limit together, the usage's reason names
// the first crossing (the team's), but the session is terminated because of its run: the
// SessionTerminated reason must name the run limit, or the session view blames the team.
TEST_F(decide, termination_reason_names_the_run_limit) {
  policy.team_default.cost_per_day = nanos{30'000'000};
  policy.agent_default.cost_per_run = nanos{30'000'000};
  auto r = report("r1", 40'000'000);  // 40M >= 30M for both
  r.session = session_id{"s-1"};
  auto d = decide_usage(live, ctx, r, std::nullopt);
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(usage_of(d).reason, "crossed:team:acme:day:cost");
  EXPECT_EQ(std::get<session_terminated>(d.events[1].payload).reason,
            "crossed:session:s-1:run:cost");
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

TEST_F(decide, an_agent_reporting_under_a_second_team_is_refused_pending_or_folded) {
  // Decided but not folded yet: the live view already knows eng-1 belongs to acme.
  auto first = decide_usage(live, ctx, report("a1"), std::nullopt);
  ASSERT_EQ(first.what, verdict::recorded);
  live.add_pending(first.events.at(0));
  auto other = report("b1");
  other.team = team_id{"beta"};
  auto d = decide_usage(live, ctx, other, std::nullopt);
  EXPECT_EQ(d.what, verdict::invalid);
  EXPECT_EQ(d.reason, "agent_in_other_team");
  EXPECT_TRUE(d.events.empty());
  // Folded: the registered agent record answers.
  live.remove_pending(first.events.at(0));
  state.apply(first.events.at(0));
  EXPECT_EQ(decide_usage(live, ctx, other, std::nullopt).reason, "agent_in_other_team");
  // Its own team is fine.
  EXPECT_EQ(decide_usage(live, ctx, report("a2"), std::nullopt).what, verdict::recorded);
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

// The task a budget read defaults to: the agent's latest session by opening time (then id),
// from the fold's index, with pending sessions overlaid, and only within the asked team.
TEST(live_view_latest_task, latest_by_opening_time_then_id_pending_included) {
  ledger_state state;
  live_view live{state};
  auto open = [](std::string id, std::string session, std::string task, time_ms at) {
    event e;
    e.id = event_id{std::move(id)};
    e.time = at;
    e.payload = session_opened{team_id{"acme"},
                               agent_id{"eng-1"},
                               session_id{std::move(session)},
                               task_id{std::move(task)},
                               "m",
                               ""};
    return e;
  };
  const team_id acme{"acme"};
  const agent_id eng{"eng-1"};
  EXPECT_TRUE(live.latest_task(acme, eng).empty());
  state.apply(open("o1", "s-b", "594", now));
  state.apply(open("o2", "s-c", "12", now - minute));  // opened earlier: not the latest
  EXPECT_EQ(live.latest_task(acme, eng).str(), "594");
  state.apply(open("o3", "s-a", "7", now));  // same time, smaller id: not the latest
  EXPECT_EQ(live.latest_task(acme, eng).str(), "594");
  state.apply(open("o4", "s-d", "8", now));  // same time, larger id: the latest
  EXPECT_EQ(live.latest_task(acme, eng).str(), "8");
  EXPECT_TRUE(live.latest_task(team_id{"other"}, eng).empty());

  auto pending = open("o5", "s-e", "99", now + minute);
  live.add_pending(pending);
  EXPECT_EQ(live.latest_task(acme, eng).str(), "99");
  live.remove_pending(pending);  // never made it
  EXPECT_EQ(live.latest_task(acme, eng).str(), "8");
}

}  // namespace
}  // namespace tally
