// Budget thresholds (DESIGN.md section 4): the crossings a decision emits, once per (scope,
// window, period, threshold) whatever the report sizes; resolutions by a raised limit or a new
// period; per-team thresholds; message templates; the fold's feed and outbox rows, written once
// even when an event is folded twice, and byte-identical on a replay.
#include "projections/thresholds.h"

#include <set>

#include <gtest/gtest.h>

#include "schemas/config.h"

namespace tally {
namespace {

const time_ms now = 1'795'428'000'000;  // 2026-11-23T10:00:00Z
constexpr time_ms day = 86'400'000;
constexpr std::int64_t usd = 1'000'000'000;

usage_report report(std::string id, std::int64_t cost_nanos, time_ms at = now) {
  usage_report r;
  r.id = event_id{std::move(id)};
  r.team = team_id{"acme"};
  r.agent = agent_id{"eng-1"};
  r.model = "m";
  r.cost = nanos{cost_nanos};
  r.occurred_at = at;
  return r;
}

event ev(std::string id, event_payload p, time_ms t = now - day) {
  event e;
  e.id = event_id{std::move(id)};
  e.time = t;
  e.payload = std::move(p);
  return e;
}

class thresholds : public ::testing::Test {
 protected:
  void SetUp() override {
    policy.teams["acme"].cost_per_day = nanos{10 * usd};
    ctx.policy = &policy;
    ctx.now = now;
    state.apply(ev("t", team_created{team_id{"acme"}, "Acme", "UTC"}));
  }
  // Decides, then folds every event, as the projector would; returns the decided events.
  std::vector<event> spend(const std::string& id, std::int64_t cost, time_ms at = now) {
    ctx.now = std::max(ctx.now, at);
    auto d = decide_usage(live, ctx, report(id, cost, at), std::nullopt);
    for (auto& e : d.events) state.apply(e);
    return d.events;
  }
  static std::vector<budget_threshold_crossed> crossings(const std::vector<event>& es) {
    std::vector<budget_threshold_crossed> out;
    for (auto& e : es) {
      if (auto* c = std::get_if<budget_threshold_crossed>(&e.payload)) out.push_back(*c);
    }
    return out;
  }
  static std::vector<std::string> ids_of_type(const std::vector<event>& es, std::string_view t) {
    std::vector<std::string> out;
    for (auto& e : es) {
      if (event_type_name(e.payload) == t) out.push_back(e.id.str());
    }
    return out;
  }
  std::set<std::string> feed_ids() {
    std::set<std::string> out;
    for (auto& r : alert_feed(live)) out.insert(r.id.str());
    return out;
  }
  std::size_t outbox_rows() {
    std::size_t n = 0;
    for (auto& c : state.drain()) n += c.cf == column::outbox;
    return n;
  }

  limit_policy policy;
  decide_context ctx;
  ledger_state state;
  live_view live{state};
};

const std::set<std::string> all_four = {
    "thr:team:acme:day:2026-11-23:50", "thr:team:acme:day:2026-11-23:80",
    "thr:team:acme:day:2026-11-23:95", "thr:team:acme:day:2026-11-23:100"};

TEST_F(thresholds, one_large_report_crosses_every_threshold_once) {
  auto es = spend("big", 12 * usd);  // 0 -> 120 %
  ASSERT_EQ(es.size(), 5u);
  EXPECT_EQ(event_type_name(es[0].payload), "tally.usage_recorded.v1");
  auto cs = crossings(es);
  ASSERT_EQ(cs.size(), 4u);
  std::set<std::string> ids;
  for (auto& e : es) {
    if (std::holds_alternative<budget_threshold_crossed>(e.payload)) ids.insert(e.id.str());
  }
  EXPECT_EQ(ids, all_four);
  EXPECT_EQ(cs[0].level, "info");
  EXPECT_EQ(cs[1].level, "warning");
  EXPECT_EQ(cs[2].level, "critical");
  EXPECT_EQ(cs[3].level, "exceeded");
  for (auto& c : cs) {
    EXPECT_EQ(c.kind, alert_scope_kind::team);
    EXPECT_EQ(c.scope_id, "acme");
    EXPECT_EQ(c.window, "day");
    EXPECT_EQ(c.period, "2026-11-23");
    EXPECT_EQ(c.limit.count, 10 * usd);
    EXPECT_EQ(c.spent.count, 12 * usd);
    EXPECT_TRUE(c.channels_off.empty());  // the configured default: every channel on
    EXPECT_EQ(c.crossing_event.str(), "big");
    EXPECT_EQ(c.at, now);  // the crossing event's time
    EXPECT_EQ(c.occurrence, 1);
  }
  EXPECT_EQ(cs[3].message, "budget exceeded");
  EXPECT_EQ(feed_ids(), all_four);
  EXPECT_EQ(outbox_rows(), 4u);
}

TEST_F(thresholds, many_small_reports_cross_the_same_set) {
  std::set<std::string> ids;
  std::map<std::string, std::string> crossed_by;
  for (int i = 0; i < 120; ++i) {  // 120 x $0.10: 0 -> 120 %
    auto es = spend("r" + std::to_string(i), usd / 10);
    for (auto& c : crossings(es)) crossed_by[alert_base_id(c)] = c.crossing_event.str();
    for (auto& id : ids_of_type(es, "tally.budget_threshold_crossed.v1")) {
      EXPECT_TRUE(ids.insert(id).second) << id << " twice";
    }
  }
  EXPECT_EQ(ids, all_four);
  // Each is crossed by the report that reaches it: 50 % by the 50th ($5.00), and so on.
  EXPECT_EQ(crossed_by["thr:team:acme:day:2026-11-23:50"], "r49");
  EXPECT_EQ(crossed_by["thr:team:acme:day:2026-11-23:80"], "r79");
  EXPECT_EQ(crossed_by["thr:team:acme:day:2026-11-23:95"], "r94");
  EXPECT_EQ(crossed_by["thr:team:acme:day:2026-11-23:100"], "r99");
  EXPECT_EQ(feed_ids(), all_four);
}

TEST_F(thresholds, a_jump_over_several_thresholds_emits_each) {
  EXPECT_TRUE(crossings(spend("a", 4 * usd)).empty());
  auto cs = crossings(spend("b", 5'600'000'000));  // 40 % -> 96 %
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].threshold_percent, 50);
  EXPECT_EQ(cs[1].threshold_percent, 80);
  EXPECT_EQ(cs[2].threshold_percent, 95);
  EXPECT_TRUE(crossings(spend("c", usd / 100)).empty());  // 96.1 %: nothing new
  EXPECT_EQ(crossings(spend("d", usd)).size(), 1u);       // 100 %
}

TEST_F(thresholds, the_same_usage_folded_twice_alerts_once) {
  auto d = decide_usage(live, ctx, report("big", 12 * usd), std::nullopt);
  for (int round = 0; round < 2; ++round) {
    for (auto& e : d.events) state.apply(e);
  }
  EXPECT_EQ(feed_ids(), all_four);
  EXPECT_EQ(alert_feed(live).size(), 4u);
  EXPECT_EQ(outbox_rows(), 4u);
  // Decided again (a retried report): a duplicate, nothing new.
  auto again = decide_usage(live, ctx, report("big", 12 * usd), std::nullopt);
  EXPECT_EQ(again.what, verdict::duplicate);
  EXPECT_TRUE(again.events.empty());
}

TEST_F(thresholds, pending_crossings_are_not_decided_twice) {
  // Decided but not folded yet (in flight): the next report must not cross them again.
  auto d1 = decide_usage(live, ctx, report("a", 6 * usd), std::nullopt);
  for (auto& e : d1.events) live.add_pending(e);
  auto d2 = decide_usage(live, ctx, report("b", usd), std::nullopt);
  EXPECT_TRUE(crossings(d2.events).empty());
  ASSERT_EQ(crossings(d1.events).size(), 1u);
  EXPECT_EQ(alert_feed(live).size(), 1u);  // read-your-writes: the pending crossing is listed
}

TEST_F(thresholds, a_new_period_crosses_again_and_resolves_the_old_one) {
  spend("a", 6 * usd);  // 60 % of 2026-11-23
  auto es = spend("b", 6 * usd, now + day);
  auto res = ids_of_type(es, "tally.budget_threshold_resolved.v1");
  EXPECT_EQ(res, std::vector<std::string>{"res:team:acme:day:2026-11-23:50"});
  auto cs = crossings(es);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].period, "2026-11-24");
  EXPECT_EQ(cs[0].occurrence, 1);
  auto feed = alert_feed(live);
  ASSERT_EQ(feed.size(), 2u);
  EXPECT_EQ(feed[0].crossed.period, "2026-11-24");  // newest first
  EXPECT_FALSE(feed[0].resolved);
  EXPECT_TRUE(feed[1].resolved);
  EXPECT_EQ(feed[1].resolved_reason, "new_period");
}

TEST_F(thresholds, a_raised_limit_resolves_and_the_threshold_fires_again) {
  spend("a", 8'500'000'000);  // 85 %: 50 and 80
  command_context cc{&policy, now + 1000, "tally", event_id{"lim-1"}};
  auto d = decide_set_limits(live, cc,
                             limits_set{team_id{"acme"}, limit_scope::team, "acme",
                                        limit_set{.cost_per_day = nanos{20 * usd}}});
  ASSERT_EQ(d.refused, refusal::none);
  EXPECT_EQ(event_type_name(d.events[0].payload), "tally.limits_set.v1");
  auto res = ids_of_type(d.events, "tally.budget_threshold_resolved.v1");
  EXPECT_EQ(res, (std::vector<std::string>{"res:team:acme:day:2026-11-23:50",
                                           "res:team:acme:day:2026-11-23:80"}));
  for (auto& e : d.events) state.apply(e);
  EXPECT_EQ(std::get<budget_threshold_resolved>(d.events[1].payload).reason, "limit_raised");
  // 85 % of $10 is 42.5 % of $20; $10.50 is 52.5 %: the 50 % threshold fires again.
  auto cs = crossings(spend("b", 2 * usd));
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].threshold_percent, 50);
  EXPECT_EQ(cs[0].occurrence, 2);
  EXPECT_EQ(alert_id(cs[0]).str(), "thr:team:acme:day:2026-11-23:50:2");
  // A lowered limit puts the scope over thresholds at once: they fire with the LimitsSet.
  command_context lower{&policy, now + 2000, "tally", event_id{"lim-2"}};
  auto l = decide_set_limits(live, lower,
                             limits_set{team_id{"acme"}, limit_scope::team, "acme",
                                        limit_set{.cost_per_day = nanos{11 * usd}}});
  auto lc = crossings(l.events);
  ASSERT_EQ(lc.size(), 2u);  // 95 % ($10.45), and 80 % again (resolved before): occurrence 2
  std::set<int> percents;
  for (auto& c : lc) percents.insert(c.threshold_percent);
  EXPECT_EQ(percents, (std::set<int>{80, 95}));
  for (auto& c : lc) EXPECT_EQ(c.crossing_event.str(), "lim-2");
}

TEST_F(thresholds, per_team_thresholds_replace_the_configured_ones) {
  command_context cc{&policy, now - 1000, "tally", event_id{"cfg"}};
  auto d = decide_set_thresholds(
      live, cc,
      alert_thresholds_set{team_id{"acme"},
                           {{90, "critical", "{percent}% of {scope_id}'s {window} budget"},
                            {30, "info", "early warning"}},
                           {{"in_app", true}, {"email", false}}});
  ASSERT_EQ(d.refused, refusal::none);
  for (auto& e : d.events) state.apply(e);
  auto cfg = effective_thresholds(live, policy, team_id{"acme"});
  EXPECT_EQ(cfg.source, "team");
  ASSERT_EQ(cfg.thresholds.size(), 2u);
  EXPECT_EQ(cfg.thresholds[0].percent, 30);  // sorted
  EXPECT_EQ(cfg.notifications[1], (alert_channel{"email", false}));
  auto cs = crossings(spend("a", 95 * usd / 10));
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].threshold_percent, 30);
  EXPECT_EQ(cs[1].threshold_percent, 90);
  EXPECT_EQ(cs[1].message, "90% of acme's day budget");
  // The team switched email off: its crossings say so, for the dispatcher.
  EXPECT_EQ(cs[0].channels_off, (std::vector<std::string>{"email"}));
  // Another team keeps the configured defaults.
  EXPECT_EQ(effective_thresholds(live, policy, team_id{"other"}).source, "config");
  // Bad thresholds are refused.
  auto bad = decide_set_thresholds(
      live, cc, alert_thresholds_set{team_id{"acme"}, {{50, "info", ""}, {50, "warning", ""}}, {}});
  EXPECT_EQ(bad.refused, refusal::invalid);
  EXPECT_EQ(bad.code, "duplicate_threshold");
  bad = decide_set_thresholds(live, cc,
                              alert_thresholds_set{team_id{"acme"}, {{50, "loud", ""}}, {}});
  EXPECT_EQ(bad.code, "bad_level");
}

TEST_F(thresholds, a_global_limit_set_below_spend_alerts_through_the_codec) {
  spend("a", 6 * usd);
  command_context cc{&policy, now + 1000, "tally", event_id{"lim-g"}};
  auto d = decide_set_limits(
      live, cc,
      limits_set{team_id{}, limit_scope::global, "", limit_set{.cost_per_day = nanos{7 * usd}}});
  // $6 of $7: 50 % and 80 % are already crossed when the limit is set.
  std::vector<std::string> ids = ids_of_type(d.events, "tally.budget_threshold_crossed.v1");
  EXPECT_EQ(ids, (std::vector<std::string>{"thr:global:global:day:2026-11-23:50",
                                           "thr:global:global:day:2026-11-23:80"}));
  for (auto& e : d.events) {
    auto back = decode_event(encode_event(e));  // as the projector reads them from the ledger
    ASSERT_TRUE(back) << encode_event(e);
    state.apply(*back);
  }
  auto row = find_alert(live, event_id{"thr:global:global:day:2026-11-23:80"});
  ASSERT_TRUE(row);
  EXPECT_EQ(row->crossed.kind, alert_scope_kind::global);
  EXPECT_EQ(row->crossed.spent.count, 6 * usd);
  EXPECT_EQ(row->crossed.team.str(), "");
  EXPECT_EQ(row->crossed.crossing_event.str(), "lim-g");
}

TEST(threshold_messages, templates_are_filled_in) {
  alert_subject s;
  s.kind = alert_scope_kind::agent;
  s.scope_id = "eng-1";
  s.window = "month";
  s.period = "2026-11";
  s.threshold_percent = 80;
  s.level = "warning";
  s.limit = nanos{200 * usd};
  s.spent = nanos{160'500'000'000};
  EXPECT_EQ(render_message("{percent}% ({level}) of {scope} {scope_id}'s {window} budget for "
                           "{period}: ${spent_usd} of ${limit_usd}, ${remaining_usd} left {other}",
                           s),
            "80% (warning) of agent eng-1's month budget for 2026-11: $160.5 of $200, $39.5 "
            "left {other}");
  EXPECT_EQ(render_message("no placeholders", s), "no placeholders");
  EXPECT_EQ(render_message("{unclosed", s), "{unclosed");
}

TEST(threshold_amounts, rounded_up_and_exact) {
  EXPECT_EQ(threshold_amount(10, 50), 5);
  EXPECT_EQ(threshold_amount(3, 50), 2);  // 1.5 rounds up: 1 nano is not yet half
  EXPECT_EQ(threshold_amount(INT64_MAX, 100), INT64_MAX);
  EXPECT_EQ(threshold_amount(INT64_MAX, 200), INT64_MAX);
}

TEST_F(thresholds, acknowledging_is_an_event_and_happens_once) {
  spend("a", 6 * usd);
  const event_id id{"thr:team:acme:day:2026-11-23:50"};
  command_context cc{&policy, now + 5, "tally", event_id{"ack:" + id.str()}};
  auto d = decide_ack_alert(live, cc, team_id{"acme"}, id, "key_1");
  ASSERT_EQ(d.events.size(), 1u);
  for (auto& e : d.events) state.apply(e);
  auto row = find_alert(live, id);
  ASSERT_TRUE(row);
  EXPECT_TRUE(row->acknowledged);
  EXPECT_EQ(row->acknowledged_by, "key_1");
  EXPECT_EQ(row->acknowledged_at, now + 5);
  EXPECT_TRUE(decide_ack_alert(live, cc, team_id{"acme"}, id, "key_1").events.empty());
  EXPECT_EQ(decide_ack_alert(live, cc, team_id{"other"}, id, "k").refused, refusal::not_found);
  EXPECT_EQ(decide_ack_alert(live, cc, team_id{"acme"}, event_id{"thr:nope"}, "k").refused,
            refusal::not_found);
}

TEST_F(thresholds, a_replay_gives_the_same_rows) {
  std::vector<event> log;
  log.push_back(ev("t", team_created{team_id{"acme"}, "Acme", "UTC"}));
  auto keep = [&](std::vector<event> es) { log.insert(log.end(), es.begin(), es.end()); };
  keep(spend("a", 6 * usd));
  keep(spend("b", 5 * usd));
  keep(spend("c", 3 * usd, now + day));
  auto first = state.drain();
  ledger_state again;
  for (auto& e : log) again.apply(e);
  auto second = again.drain();
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].key, second[i].key);
    EXPECT_EQ(first[i].value, second[i].value) << first[i].key;
  }
}

TEST(alert_codec, every_alert_event_round_trips) {
  budget_threshold_crossed c;
  c.team = team_id{"acme"};
  c.kind = alert_scope_kind::task;
  c.scope_id = "594";
  c.window = "lifetime";
  c.period = "-";
  c.threshold_percent = 95;
  c.level = "critical";
  c.message = "m";
  c.limit = nanos{500'000'000};
  c.spent = nanos{480'000'001};
  c.at = now + 123;
  c.occurrence = 3;
  c.crossing_event = event_id{"ev-9"};
  budget_threshold_resolved r;
  static_cast<alert_subject&>(r) = c;
  r.alert = event_id{"thr:x"};
  r.reason = "new_period";
  r.cause_event = event_id{"ev-10"};
  budget_threshold_resolved global = r;  // a global limit change: no team
  global.team = team_id{};
  global.kind = alert_scope_kind::global;
  global.scope_id = "global";
  for (event_payload p : {event_payload{c}, event_payload{r}, event_payload{global},
                          event_payload{alert_acknowledged{team_id{"acme"}, event_id{"a"}, "k"}},
                          event_payload{alert_thresholds_set{
                              team_id{}, default_threshold_specs(), {{"webhook", false}}}}}) {
    event e = ev("id-1", p, now + 123);
    auto back = decode_event(encode_event(e));
    ASSERT_TRUE(back) << encode_event(e);
    EXPECT_EQ(encode_event(*back), encode_event(e));
    EXPECT_EQ(event_type_name(back->payload), event_type_name(e.payload));
  }
  EXPECT_EQ(alert_scope_key(c), "k/acme/594");
}

TEST(alert_config, loading_errors_name_the_line_and_key) {
  auto bad = load_config_text(
      "limits: {}\nalerts:\n  thresholds:\n    - percent: 50\n"
      "      levle: info\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().line, 5);
  EXPECT_NE(bad.error().message.find("alerts.thresholds[0].levle"), std::string::npos)
      << bad.error().message;
  auto dup = load_config_text("alerts:\n  thresholds:\n    - {percent: 80}\n    - {percent: 80}\n");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().line, 4);
  auto ok = load_config_text(
      "alerts:\n  thresholds:\n    - percent: 50\n      message: \"50% of daily budget used\"\n"
      "  notifications:\n    - type: in_app\n    - type: webhook\n      enabled: false\n");
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->alerts.thresholds.size(), 1u);
  EXPECT_EQ(ok->alerts.thresholds[0].message, "50% of daily budget used");
  EXPECT_EQ(ok->alerts.thresholds[0].level, "info");
  ASSERT_EQ(ok->alerts.notifications.size(), 2u);
  EXPECT_FALSE(ok->alerts.notifications[1].enabled);
}

}  // namespace
}  // namespace tally
