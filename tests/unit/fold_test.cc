// The fold: ledger_state::apply over a sequence of events, with no store behind it. Totals per
// scope and window, rejected cost kept apart, dedup by (team, event id), implicit sessions, and
// drain() batches that are byte-stable so a replay rebuilds identical projections.
#include "projections/ledger_state.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

namespace tally {
namespace {

const time_ms t0 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z
constexpr time_ms minute = 60'000;
constexpr time_ms day = 86'400'000;

event ev(std::string id, time_ms t, event_payload p) {
  event e;
  e.id = event_id{std::move(id)};
  e.time = t;
  e.payload = std::move(p);
  return e;
}

struct usage_args {
  std::string team = "acme";
  std::string agent = "eng-1";
  std::string session = "s-1";
  std::string task = "594";
  std::string model = "claude-sonnet-4-5";
  std::string effort = "high";
  token_counts tokens;
  std::int64_t cost = 0;
  cost_source source = cost_source::computed;
  time_ms at = t0;
  std::string day = "2026-11-23";
  std::string month = "2026-11";
  std::optional<report_ref> report;
};

usage_decided usage(const usage_args& a) {
  usage_decided u;
  u.team = team_id{a.team};
  u.agent = agent_id{a.agent};
  u.session = session_id{a.session};
  u.task = task_id{a.task};
  u.model = a.model;
  u.effort = a.effort;
  u.tokens = a.tokens;
  u.cost = nanos{a.cost};
  u.source = a.source;
  u.occurred_at = a.at;
  u.day = a.day;
  u.month = a.month;
  u.report = a.report;
  return u;
}

event recorded(std::string id, const usage_args& a) {
  return ev(std::move(id), a.at, usage_recorded{usage(a)});
}
event rejected(std::string id, const usage_args& a) {
  return ev(std::move(id), a.at, usage_rejected{usage(a)});
}

std::string show(const totals& t) {
  std::ostringstream o;
  o << "cost=" << t.cost_nanos << " rejected=" << t.rejected_cost_nanos << " in=" << t.input_tokens
    << " out=" << t.output_tokens << " cw=" << t.cache_creation_tokens
    << " cr=" << t.cache_read_tokens << " events=" << t.events
    << " rejected_events=" << t.rejected_events << " unpriced=" << t.unpriced_events;
  return o.str();
}

std::string render(const std::vector<ledger_state::change>& changes) {
  static const char* names[] = {"totals", "entities", "dedup", "outbox", "meta", "usage"};
  std::string out;
  for (auto& c : changes) {
    out += names[static_cast<int>(c.cf)];
    out += " ";
    out += c.key;
    out += " = ";
    if (c.cf == column::totals) {
      totals t;
      out += decode_totals(c.value, t) ? show(t) : "<bad totals>";
    } else if (c.cf == column::meta) {
      std::int64_t v;
      out += decode_i64(c.value, v) ? std::to_string(v) : "<bad i64>";
    } else {
      out += c.value;
    }
    out += "\n";
  }
  return out;
}

// The sequence of the main scenario: a team in Los Angeles, one agent, a task with a budget, a
// session with four usage events over two days (one of them unpriced, one rejected).
std::vector<event> scenario() {
  std::vector<event> s;
  s.push_back(
      ev("e-team", t0 - 3 * minute, team_created{team_id{"acme"}, "Acme", "America/Los_Angeles"}));
  s.push_back(ev("e-agent", t0 - 2 * minute,
                 agent_registered{team_id{"acme"}, agent_id{"eng-1"}, "Engineer", "coder"}));
  s.push_back(ev("e-task", t0 - 2 * minute,
                 task_created{team_id{"acme"},
                              task_id{"594"},
                              "Fix",
                              "high",
                              "bug",
                              {"budget:0.50"},
                              nanos{500'000'000}}));
  s.push_back(ev("e-open", t0 - minute,
                 session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-1"},
                                task_id{"594"}, "claude-sonnet-4-5", "high"}));
  s.push_back(recorded(
      "u1", {.tokens = {.input = 1000, .output = 200, .cache_creation = 100, .cache_read = 300},
             .cost = 12'000'000}));
  s.push_back(recorded("u2", {.tokens = {.input = 500, .output = 50},
                              .cost = 3'000'000,
                              .at = t0 + day,
                              .day = "2026-11-24"}));
  s.push_back(recorded("u3", {.task = "",
                              .model = "mystery-1",
                              .effort = "",
                              .tokens = {.input = 10, .output = 10},
                              .cost = 0,
                              .source = cost_source::unpriced,
                              .at = t0 + day,
                              .day = "2026-11-24"}));
  s.push_back(rejected("u4", {.tokens = {.input = 100, .output = 100},
                              .cost = 7'000'000,
                              .at = t0 + day + minute,
                              .day = "2026-11-24"}));
  s.push_back(ev("e-end", t0 + day + 2 * minute,
                 session_ended{team_id{"acme"}, session_id{"s-1"}, session_status::completed}));
  return s;
}

class fold : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& e : scenario()) ASSERT_EQ(state.apply(e), fold_outcome::applied) << e.id.str();
  }
  std::string totals_of(std::string_view scope, char window, std::string_view period) {
    return show(state.get_totals(totals_key(scope, window, period)));
  }
  ledger_state state;
};

TEST_F(fold, totals_per_scope_and_window) {
  // Day 1: u1 only.
  EXPECT_EQ(totals_of("t/acme", window_day, "2026-11-23"),
            "cost=12000000 rejected=0 in=1000 out=200 cw=100 cr=300 events=1 "
            "rejected_events=0 unpriced=0");
  // Day 2: u2 (3'000'000) + u3 (0, unpriced) recorded; u4 (7'000'000) rejected, not spent.
  // Tokens: in 500 + 10 = 510, out 50 + 10 = 60; the rejected report's tokens are not counted.
  EXPECT_EQ(totals_of("t/acme", window_day, "2026-11-24"),
            "cost=3000000 rejected=7000000 in=510 out=60 cw=0 cr=0 events=2 "
            "rejected_events=1 unpriced=1");
  // Month: 12'000'000 + 3'000'000 + 0 = 15'000'000.
  const std::string month =
      "cost=15000000 rejected=7000000 in=1510 out=260 cw=100 cr=300 events=3 "
      "rejected_events=1 unpriced=1";
  EXPECT_EQ(totals_of("t/acme", window_month, "2026-11"), month);
  EXPECT_EQ(totals_of("g", window_month, "2026-11"), month);
  EXPECT_EQ(totals_of("a/acme/eng-1", window_month, "2026-11"), month);
  EXPECT_EQ(totals_of("s/acme/s-1", window_lifetime, "-"), month);  // every event is on s-1
  // Per model: sonnet has u1, u2 and the rejected u4; mystery-1 has u3.
  const std::string sonnet =
      "cost=15000000 rejected=7000000 in=1500 out=250 cw=100 cr=300 events=2 "
      "rejected_events=1 unpriced=0";
  EXPECT_EQ(totals_of("m/acme/claude-sonnet-4-5", window_month, "2026-11"), sonnet);
  EXPECT_EQ(totals_of("gm/claude-sonnet-4-5", window_month, "2026-11"), sonnet);
  EXPECT_EQ(totals_of("m/acme/mystery-1", window_month, "2026-11"),
            "cost=0 rejected=0 in=10 out=10 cw=0 cr=0 events=1 rejected_events=0 unpriced=1");
  EXPECT_EQ(totals_of("m/acme/mystery-1", window_day, "2026-11-24"),
            "cost=0 rejected=0 in=10 out=10 cw=0 cr=0 events=1 rejected_events=0 unpriced=1");
  // Effort "high": u1, u2, u4 (u3 has no effort and writes no effort row).
  EXPECT_EQ(totals_of("e/acme/high", window_month, "2026-11"), sonnet);
  EXPECT_EQ(totals_of("e/acme/", window_month, "2026-11"),
            "cost=0 rejected=0 in=0 out=0 cw=0 cr=0 events=0 rejected_events=0 unpriced=0");
  // Task 594: u1, u2, u4 (u3 has no task).
  EXPECT_EQ(totals_of("k/acme/594", window_lifetime, "-"), sonnet);
  // Nothing in another month.
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_month, "2026-12")), totals{});
}

TEST_F(fold, entities) {
  auto team = state.team(team_id{"acme"});
  ASSERT_TRUE(team);
  EXPECT_EQ(team->name, "Acme");
  EXPECT_EQ(team->timezone, "America/Los_Angeles");
  auto agent = state.agent(agent_id{"eng-1"});
  ASSERT_TRUE(agent);
  EXPECT_EQ(agent->team.str(), "acme");
  EXPECT_EQ(agent->name, "Engineer");
  EXPECT_EQ(agent->type, "coder");
  auto task = state.task(team_id{"acme"}, task_id{"594"});
  ASSERT_TRUE(task);
  EXPECT_EQ(task->title, "Fix");
  EXPECT_EQ(task->tags, std::vector<std::string>{"budget:0.50"});
  EXPECT_EQ(task->budget, std::optional<nanos>{nanos{500'000'000}});
  EXPECT_FALSE(state.task(team_id{"other"}, task_id{"594"}));
  auto s = state.session(team_id{"acme"}, session_id{"s-1"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, session_status::completed);
  EXPECT_EQ(s->agent.str(), "eng-1");
  EXPECT_EQ(s->task.str(), "594");
  EXPECT_EQ(s->model, "claude-sonnet-4-5");
  EXPECT_EQ(s->opened_at, t0 - minute);
  EXPECT_EQ(s->ended_at, t0 + day + 2 * minute);
}

TEST_F(fold, duplicates_change_nothing) {
  state.drain();
  ASSERT_EQ(state.dirty_count(), 0u);
  auto before = state.get_totals(totals_key("t/acme", window_month, "2026-11"));
  // Same team and id, even with a different body: one fact.
  EXPECT_EQ(state.apply(recorded("u1", {.cost = 999})), fold_outcome::duplicate);
  EXPECT_EQ(state.apply(rejected("u4", {.cost = 999})), fold_outcome::duplicate);
  EXPECT_EQ(state.apply(ev("e-team", t0, team_created{team_id{"acme"}, "Renamed", "UTC"})),
            fold_outcome::duplicate);
  EXPECT_EQ(state.dirty_count(), 0u);
  EXPECT_TRUE(state.drain().empty());
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_month, "2026-11")), before);
  EXPECT_EQ(state.team(team_id{"acme"})->name, "Acme");
  EXPECT_TRUE(state.seen(team_id{"acme"}, event_id{"u1"}));
  EXPECT_FALSE(state.seen(team_id{"beta"}, event_id{"u1"}));
}

TEST_F(fold, same_event_id_in_another_team_is_another_fact) {
  EXPECT_EQ(state.apply(recorded("u1", {.team = "beta", .cost = 1'000'000})),
            fold_outcome::applied);
  EXPECT_EQ(state.get_totals(totals_key("t/beta", window_month, "2026-11")).cost_nanos, 1'000'000);
  // Global month: 15'000'000 (acme) + 1'000'000 (beta).
  EXPECT_EQ(state.get_totals(totals_key("g", window_month, "2026-11")).cost_nanos, 16'000'000);
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_month, "2026-11")).cost_nanos, 15'000'000);
}

TEST(fold_sessions, usage_on_an_unknown_session_opens_it) {
  ledger_state state;
  ASSERT_EQ(state.apply(recorded("u1", {.agent = "eng-9",
                                        .session = "s-9",
                                        .model = "m",
                                        .effort = "low",
                                        .cost = 5,
                                        .at = t0 + 7})),
            fold_outcome::applied);
  auto s = state.session(team_id{"acme"}, session_id{"s-9"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, session_status::active);
  EXPECT_EQ(s->agent.str(), "eng-9");
  EXPECT_EQ(s->task.str(), "594");
  EXPECT_EQ(s->model, "m");
  EXPECT_EQ(s->effort, "low");
  EXPECT_EQ(s->opened_at, t0 + 7);
  // The unknown agent is registered implicitly, in the usage's team.
  auto a = state.agent(agent_id{"eng-9"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->team.str(), "acme");
  // Usage without a session opens none.
  ASSERT_EQ(state.apply(recorded("u2", {.session = ""})), fold_outcome::applied);
  EXPECT_FALSE(state.session(team_id{"acme"}, session_id{""}));
}

TEST(fold_sessions, ended_after_terminated_does_not_reopen) {
  ledger_state state;
  const team_id acme{"acme"};
  const session_id s2{"s-2"};
  state.apply(ev("o", t0, session_opened{acme, agent_id{"eng-1"}, s2, task_id{}, "m", ""}));
  state.apply(ev("t", t0 + 5, session_terminated{acme, s2, "crossed:session:s-2:run:cost"}));
  auto s = state.session(acme, s2);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, session_status::terminated);
  EXPECT_EQ(s->ended_at, t0 + 5);
  EXPECT_EQ(s->reason, "crossed:session:s-2:run:cost");
  ASSERT_EQ(state.apply(ev("end", t0 + 9, session_ended{acme, s2, session_status::completed})),
            fold_outcome::applied);
  s = state.session(acme, s2);
  EXPECT_EQ(s->status, session_status::terminated);
  EXPECT_EQ(s->ended_at, t0 + 5);
  EXPECT_EQ(s->reason, "crossed:session:s-2:run:cost");
  // A second termination keeps the first reason and time.
  state.apply(ev("t2", t0 + 11, session_terminated{acme, s2, "later"}));
  EXPECT_EQ(state.session(acme, s2)->reason, "crossed:session:s-2:run:cost");
}

TEST(fold_meta, report_offset_advances_also_on_duplicates) {
  ledger_state state;
  EXPECT_FALSE(state.meta_i64("reports/2"));
  state.apply(recorded("r-2-100", {.report = report_ref{2, 100}}));
  EXPECT_EQ(state.meta_i64("reports/2"), std::optional<std::int64_t>{100});
  // The same decision re-decided from a later copy of the report: a duplicate, but the report
  // is done, so the offset moves.
  EXPECT_EQ(state.apply(recorded("r-2-100", {.report = report_ref{2, 150}})),
            fold_outcome::duplicate);
  EXPECT_EQ(state.meta_i64("reports/2"), std::optional<std::int64_t>{150});
  // A rejection carries its report too; an older offset never moves it back.
  state.apply(rejected("r-2-90", {.report = report_ref{2, 90}}));
  EXPECT_EQ(state.meta_i64("reports/2"), std::optional<std::int64_t>{150});
  state.apply(rejected("r-5-3", {.report = report_ref{5, 3}}));
  EXPECT_EQ(state.meta_i64("reports/5"), std::optional<std::int64_t>{3});
  EXPECT_EQ(state.meta_i64("reports/2"), std::optional<std::int64_t>{150});
  // Events without a report ref leave the meta alone.
  state.apply(recorded("plain", {}));
  EXPECT_FALSE(state.meta_i64("reports/-1"));
}

#define ROW "cost=12000000 rejected=5 in=1 out=2 cw=3 cr=4 events=1 rejected_events=1 unpriced=0"
TEST(fold_drain, golden) {
  ledger_state state;
  state.apply(ev("e-team", t0, team_created{team_id{"acme"}, "Acme", "Asia/Tokyo"}));
  state.apply(ev("e-open", t0,
                 session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-1"}, task_id{},
                                "opus/4", "max"}));
  state.apply(
      recorded("u1", {.task = "",
                      .model = "opus/4",  // '/' is escaped in keys
                      .effort = "max",
                      .tokens = {.input = 1, .output = 2, .cache_creation = 3, .cache_read = 4},
                      .cost = 12'000'000,
                      .at = t0 + 1,
                      .day = "2026-11-24",
                      .report = report_ref{0, 7}}));
  state.apply(rejected("u2", {.task = "",
                              .model = "opus/4",
                              .effort = "max",
                              .tokens = {.input = 9},
                              .cost = 5,
                              .at = t0 + 2,
                              .day = "2026-11-24"}));
  // u1 (12'000'000, tokens 1/2/3/4) recorded and u2 (5) rejected land in every scope of the
  // usage; u2's 9 input tokens are not counted. No task row: both have no task.
  const std::string golden =
      "totals a/acme/eng-1/d/2026-11-24 = " ROW
      "\n"
      "totals a/acme/eng-1/m/2026-11 = " ROW
      "\n"
      "totals e/acme/max/d/2026-11-24 = " ROW
      "\n"
      "totals e/acme/max/m/2026-11 = " ROW
      "\n"
      // Org-wide rows are in UTC: 2026-11-23T16:00Z is still the 23rd there, the 24th in Tokyo.
      "totals g/d/2026-11-23 = " ROW
      "\n"
      "totals g/m/2026-11 = " ROW
      "\n"
      "totals gm/opus%2F4/d/2026-11-23 = " ROW
      "\n"
      "totals gm/opus%2F4/m/2026-11 = " ROW
      "\n"
      "totals m/acme/opus%2F4/d/2026-11-24 = " ROW
      "\n"
      "totals m/acme/opus%2F4/m/2026-11 = " ROW
      "\n"
      "totals s/acme/s-1/l/- = " ROW
      "\n"
      "totals t/acme/d/2026-11-24 = " ROW
      "\n"
      "totals t/acme/m/2026-11 = " ROW
      "\n"
      R"(entities active/a/eng-1 = {"count":1})"
      "\n"
      R"(entities active/g = {"count":1})"
      "\n"
      R"(entities active/t/acme = {"count":1})"
      "\n"
      R"(entities agent/eng-1 = {"team_id":"acme","name":"eng-1","type":""})"
      "\n"
      R"(entities latest/eng-1 = {"team_id":"acme","session_id":"s-1","task_id":"",)"
      R"("opened_at":1795428000000})"
      "\n"
      R"(entities session/acme/s-1 = {"agent_id":"eng-1","task_id":"","model":"opus/4",)"
      R"("effort":"max","status":"active","opened_at":1795428000000,"ended_at":0,"reason":""})"
      "\n"
      R"(entities sessionof/s-1 = {"team_id":"acme"})"
      "\n"
      R"(entities team/acme = {"name":"Acme","timezone":"Asia/Tokyo"})"
      "\n"
      "dedup acme/e-open = 2026-11-23\n"
      "dedup acme/e-team = 2026-11-23\n"
      // Usage markers keep the answer given: recorded / rejected, cost, over+stop, hash, reason.
      "dedup acme/u1 = 2026-11-24\tR\t12000000\t00\t\t\n"
      "dedup acme/u2 = 2026-11-24\tJ\t5\t00\t\t\n"
      "meta reports/0 = 7\n"
      // The usage log: one row per decided event, by time (u2 rejected, 'J').
      "usage acme/1795428000001/u1 = v1\t2026-11-24\t1795428000001\tR\teng-1\ts-1\t\topus/4\tmax"
      "\t1\t2\t3\t4\t12000000\t2\t\t\n"
      "usage acme/1795428000002/u2 = v1\t2026-11-24\t1795428000002\tJ\teng-1\ts-1\t\topus/4\tmax"
      "\t9\t0\t0\t0\t5\t2\t\t\n";
#undef ROW
  EXPECT_EQ(render(state.drain()), golden);
  EXPECT_EQ(state.dirty_count(), 0u);
  EXPECT_TRUE(state.drain().empty());
}

TEST(fold_drain, replay_is_byte_identical) {
  ledger_state a, b;
  for (auto& e : scenario()) a.apply(e);
  for (auto& e : scenario()) b.apply(e);
  auto da = a.drain();
  auto db = b.drain();
  ASSERT_EQ(da.size(), db.size());
  ASSERT_FALSE(da.empty());
  for (std::size_t i = 0; i < da.size(); ++i) {
    EXPECT_EQ(da[i].cf, db[i].cf);
    EXPECT_EQ(da[i].key, db[i].key);
    EXPECT_EQ(da[i].value, db[i].value);
  }
  // Sorted by column, then by key within a column.
  EXPECT_TRUE(std::is_sorted(da.begin(), da.end(), [](const auto& x, const auto& y) {
    return std::tie(x.cf, x.key) < std::tie(y.cf, y.key);
  }));
  // The same events folded in two batches give the same final rows.
  ledger_state c;
  auto events = scenario();
  std::map<std::pair<column, std::string>, std::string> rows;
  for (std::size_t i = 0; i < events.size(); ++i) {
    c.apply(events[i]);
    if (i == 4) {
      for (auto& ch : c.drain()) rows[{ch.cf, ch.key}] = ch.value;
    }
  }
  for (auto& ch : c.drain()) rows[{ch.cf, ch.key}] = ch.value;
  ASSERT_EQ(rows.size(), da.size());
  for (auto& ch : da) {
    auto key = std::make_pair(ch.cf, ch.key);
    EXPECT_EQ(rows[key], ch.value) << ch.key;
  }
}

}  // namespace
}  // namespace tally
