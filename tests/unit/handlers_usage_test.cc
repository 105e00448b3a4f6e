// The cost-management spec's usage and limits endpoints over an in-memory ledger: exact totals
// of the day, the rolling week and the month in a team's time zone (New York, at a month
// boundary) and in UTC for the org; by-agent and by-model entries that add up to the team
// total; per-day ranges; GET/PUT /limits in the config.yaml shape with LimitsSet events per
// changed scope; /limits/status with exact percentages and resets; and a team credential that
// never sees another team.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/handlers.h"
#include "tests/support/memory_ledger.h"

namespace tally::api {
namespace {

// 2026-12-01T03:00:00Z: in New York it is still 2026-11-30 22:00 (EST, UTC-5).
const time_ms now_ms = 1'796'094'000'000;
const time_ms ny_midnight_ms = 1'796'101'200'000;  // 2026-12-01T05:00:00Z

using handler = void (*)(api_deps&, request_ctx&, respond_fn);
using pairs = std::vector<std::pair<std::string, std::string>>;

const principal admin{role::admin, "", "k-admin"};
const principal ny_reader{role::reader, "ny", "k-ny-r"};
const principal ny_admin{role::admin, "ny", "k-ny-a"};
const principal beta_agent{role::agent, "beta", "k-b"};

std::int64_t nanos_of(const boost::json::value& v, std::string_view k) {
  return v.as_object().at(k).as_int64();
}

class handlers_usage : public ::testing::Test {
 protected:
  void SetUp() override {
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [this] { return now; };
  }

  http_response call(handler h, http::verb verb, std::string body, pairs path = {},
                     pairs query = {}, principal who = admin, std::string idempotency_key = {}) {
    request_ctx ctx;
    ctx.req.method(verb);
    ctx.req.body() = std::move(body);
    if (!idempotency_key.empty()) ctx.req.set("Idempotency-Key", idempotency_key);
    ctx.path.items = std::move(path);
    ctx.query.items = std::move(query);
    ctx.caller = who;
    std::optional<http_response> out;
    try {
      h(deps, ctx, [&out](http_response res) { out = std::move(res); });
    } catch (const api_error& e) {
      out = problem(e.status, e.slug, "Refused", e.what());
    }
    ledger.deliver(true);
    EXPECT_TRUE(out) << "no answer";
    return std::move(*out);
  }

  http_response get(handler h, pairs query = {}, principal who = admin) {
    return call(h, http::verb::get, "", {}, std::move(query), who);
  }

  // The answer's JSON, after checking it is 200.
  boost::json::object ok(const http_response& res) {
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    if (res.result() != http::status::ok) return {};
    return boost::json::parse(res.body()).as_object();
  }

  void create(std::string body) {
    ASSERT_EQ(call(create_team, http::verb::post, std::move(body)).result(), http::status::created);
  }
  void agent(const std::string& team, const std::string& id, const std::string& type = "dev") {
    ASSERT_EQ(call(register_agent, http::verb::post,
                   R"({"id": ")" + id + R"(", "name": ")" + id + R"(", "type": ")" + type + R"("})",
                   {{"team_id", team}})
                  .result(),
              http::status::created);
  }
  std::string session(const std::string& agent, const std::string& model) {
    auto res = call(open_agent_session, http::verb::post, R"({"model": ")" + model + R"("})",
                    {{"agent_id", agent}});
    EXPECT_EQ(res.result(), http::status::created) << res.body();
    return std::string(boost::json::parse(res.body()).at("session_id").as_string());
  }
  http_response report(const std::string& session, std::string body) {
    return call(report_usage, http::verb::post, std::move(body), {{"session_id", session}});
  }

  // Team ny (America/New_York): eng-1 on sonnet, eng-2 on "vendor/opus-4" (a '/' in a model
  // id), usage on both sides of New York's and UTC's midnights; team beta (UTC): b-1.
  //   when (UTC)           NY day      UTC day     who    model            cost    tokens
  //   2026-12-01 02:00     11-30       12-01       eng-1  sonnet           1.25    1100
  //   2026-11-30 04:00     11-29       11-30       eng-2  vendor/opus-4    2.5     2200
  //   2026-11-24 10:00     11-24       11-24       eng-1  claude-haiku-x   0.125   330  (the
  //                                                       report names its own model)
  //   2026-11-24 04:30     11-23       11-24       eng-2  vendor/opus-4    4       4400
  //   2026-12-01 01:00     -           12-01       b-1    sonnet           10      10000 (beta)
  // and a refused report of 0.5 on beta's ended session.
  void fleet() {
    create(R"({"id": "ny", "name": "New York", "timezone": "America/New_York"})");
    create(R"({"id": "beta", "name": "Beta", "timezone": "UTC"})");
    agent("ny", "eng-1", "feature-dev");
    agent("ny", "eng-2", "bugfix-dev");
    agent("beta", "b-1");
    s1 = session("eng-1", "claude-sonnet-4");
    s2 = session("eng-2", "vendor/opus-4");
    s3 = session("b-1", "claude-sonnet-4");
    auto r = [&](const std::string& s, const std::string& body) {
      auto res = report(s, body);
      ASSERT_EQ(res.result(), http::status::ok) << res.body();
    };
    r(s1, R"({"input_tokens": 1000, "output_tokens": 100, "cost_usd": 1.25,
              "occurred_at": "2026-12-01T02:00:00Z"})");
    r(s2, R"({"input_tokens": 2000, "output_tokens": 200, "cost_usd": 2.5,
              "occurred_at": "2026-11-30T04:00:00Z"})");
    r(s1, R"({"input_tokens": 300, "output_tokens": 30, "cost_usd": 0.125,
              "model": "claude-haiku-x", "occurred_at": "2026-11-24T10:00:00Z"})");
    r(s2, R"({"input_tokens": 4000, "output_tokens": 400, "cost_usd": 4,
              "occurred_at": "2026-11-24T04:30:00Z"})");
    r(s3, R"({"input_tokens": 10000, "cost_usd": 10, "occurred_at": "2026-12-01T01:00:00Z"})");
    ASSERT_EQ(call(tally::api::end_session, http::verb::post, "", {{"session_id", s3}}).result(),
              http::status::ok);
    ASSERT_EQ(report(s3, R"({"input_tokens": 5, "cost_usd": 0.5})").result(),
              http::status::payment_required);
  }

  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  time_ms now = now_ms;
  std::string s1, s2, s3;
};

TEST_F(handlers_usage, summary_counts_day_week_and_month_in_the_teams_zone) {
  fleet();
  auto day = ok(get(usage_summary, {{"period", "day"}, {"team_id", "ny"}}));
  EXPECT_EQ(day.at("scope").as_string(), "team");
  EXPECT_EQ(day.at("start").as_string(), "2026-11-30");  // still Nov 30 in New York
  EXPECT_EQ(day.at("end").as_string(), "2026-11-30");
  EXPECT_EQ(day.at("timezone").as_string(), "America/New_York");
  EXPECT_EQ(nanos_of(day, "total_cost_nanos"), 1'250'000'000);
  EXPECT_EQ(nanos_of(day, "total_tokens"), 1100);
  EXPECT_EQ(nanos_of(day, "reports"), 1);
  EXPECT_EQ(nanos_of(day, "run_count"), 2);  // both sessions opened on Nov 30, New York time

  auto week = ok(get(usage_summary, {{"period", "week"}, {"team_id", "ny"}}));
  EXPECT_EQ(week.at("start").as_string(), "2026-11-24");
  EXPECT_EQ(week.at("end").as_string(), "2026-11-30");
  EXPECT_EQ(nanos_of(week, "total_cost_nanos"), 3'875'000'000);  // 11-23 (NY) is out
  EXPECT_EQ(nanos_of(week, "total_input_tokens"), 3300);
  EXPECT_EQ(nanos_of(week, "total_output_tokens"), 330);
  EXPECT_TRUE(week.at("cost_limit_usd").is_null());

  auto res = get(usage_summary, {{"team_id", "ny"}});  // period defaults to month
  auto month = ok(res);
  EXPECT_EQ(month.at("period").as_string(), "month");
  EXPECT_EQ(month.at("start").as_string(), "2026-11-01");
  EXPECT_EQ(month.at("end").as_string(), "2026-11-30");
  EXPECT_NE(res.body().find(R"("total_cost_usd":7.875,)"), std::string::npos) << res.body();
  EXPECT_EQ(nanos_of(month, "total_tokens"), 8030);
  EXPECT_EQ(nanos_of(month, "reports"), 4);
  EXPECT_EQ(nanos_of(month, "rejected_cost_nanos"), 0);
  EXPECT_EQ(nanos_of(month, "avg_tokens_per_run"), 4015);
}

TEST_F(handlers_usage, org_summary_counts_in_utc_with_rejected_cost_and_the_limit) {
  policy.global.cost_per_month = nanos{40'000'000'000};
  fleet();
  // UTC: Dec 1 holds 02:00 (1.25) and beta's 01:00 (10); the refused 0.5 beside.
  auto day = ok(get(usage_summary, {{"period", "day"}}));
  EXPECT_EQ(day.at("scope").as_string(), "org");
  EXPECT_TRUE(day.at("team_id").is_null());
  EXPECT_EQ(day.at("start").as_string(), "2026-12-01");
  EXPECT_EQ(day.at("timezone").as_string(), "UTC");
  EXPECT_EQ(nanos_of(day, "total_cost_nanos"), 11'250'000'000);
  EXPECT_EQ(nanos_of(day, "rejected_cost_nanos"), 500'000'000);
  EXPECT_EQ(nanos_of(day, "rejected_reports"), 1);
  EXPECT_EQ(nanos_of(day, "run_count"), 3);
  // Week Nov 25 - Dec 1 in UTC: Nov 30 04:00 (2.5) joins; Nov 24 stays out.
  auto week = ok(get(usage_summary, {{"period", "week"}}));
  EXPECT_EQ(week.at("start").as_string(), "2026-11-25");
  EXPECT_EQ(nanos_of(week, "total_cost_nanos"), 13'750'000'000);
  auto res = get(usage_summary, {{"period", "month"}});
  auto month = ok(res);
  EXPECT_EQ(month.at("start").as_string(), "2026-12-01");
  EXPECT_EQ(month.at("end").as_string(), "2026-12-31");
  EXPECT_EQ(nanos_of(month, "total_cost_nanos"), 11'250'000'000);
  EXPECT_EQ(nanos_of(month, "cost_limit_nanos"), 40'000'000'000);
  // 11.25 / 40 = 28.125 % -> 2812 basis points, 28.12 rounded down, computed in integers.
  EXPECT_EQ(nanos_of(month, "percent_of_limit_bp"), 2812);
  EXPECT_NE(res.body().find(R"("percent_of_limit":28.12,)"), std::string::npos) << res.body();
}

TEST_F(handlers_usage, by_agent_and_by_model_add_up_to_the_team_total) {
  fleet();
  auto res = get(usage_by_agent, {{"team_id", "ny"}, {"period", "month"}});
  auto o = ok(res);
  auto& agents = o.at("agents").as_array();
  ASSERT_EQ(agents.size(), 2u) << res.body();
  // Largest cost first, as the spec orders it.
  EXPECT_EQ(agents[0].at("agent_id").as_string(), "eng-2");
  EXPECT_EQ(agents[0].at("type").as_string(), "bugfix-dev");
  EXPECT_EQ(nanos_of(agents[0], "total_cost_nanos"), 6'500'000'000);
  EXPECT_EQ(nanos_of(agents[0], "total_tokens"), 6600);
  EXPECT_EQ(nanos_of(agents[0], "run_count"), 1);
  EXPECT_EQ(nanos_of(agents[0], "avg_tokens_per_run"), 6600);
  EXPECT_EQ(nanos_of(agents[0], "percent_of_total_bp"), 8253);  // 6.5 / 7.875
  EXPECT_EQ(agents[1].at("agent_id").as_string(), "eng-1");
  EXPECT_EQ(nanos_of(agents[1], "total_cost_nanos"), 1'375'000'000);
  EXPECT_EQ(nanos_of(agents[1], "percent_of_total_bp"), 1746);
  EXPECT_EQ(nanos_of(agents[0], "total_cost_nanos") + nanos_of(agents[1], "total_cost_nanos"),
            nanos_of(o, "total_cost_nanos"));
  EXPECT_EQ(nanos_of(o, "total_cost_nanos"), 7'875'000'000);

  res = get(usage_by_model, {{"team_id", "ny"}, {"period", "month"}});
  o = ok(res);
  auto& models = o.at("models").as_array();
  ASSERT_EQ(models.size(), 3u) << res.body();
  EXPECT_EQ(models[0].at("model").as_string(), "vendor/opus-4");  // escaped in the key
  EXPECT_EQ(nanos_of(models[0], "total_cost_nanos"), 6'500'000'000);
  EXPECT_EQ(models[1].at("model").as_string(), "claude-sonnet-4");
  EXPECT_EQ(nanos_of(models[1], "total_cost_nanos"), 1'250'000'000);
  // The report that named a model no session opened with: the rest of the total, model null.
  EXPECT_TRUE(models[2].at("model").is_null());
  EXPECT_EQ(nanos_of(models[2], "total_cost_nanos"), 125'000'000);
  EXPECT_EQ(nanos_of(models[2], "total_tokens"), 330);
  std::int64_t sum = 0;
  for (auto& m : models) sum += nanos_of(m, "total_cost_nanos");
  EXPECT_EQ(sum, nanos_of(o, "total_cost_nanos"));
  EXPECT_EQ(sum, 7'875'000'000);

  // A model the pricing table knows is looked up by name, not lumped into the rest.
  price_version v;
  v.id = "p1";
  v.models["claude-haiku-x"] = make_model_price(nanos{1'000'000'000}, nanos{5'000'000'000});
  pricing.add(v);
  o = ok(get(usage_by_model, {{"team_id", "ny"}}));
  ASSERT_EQ(o.at("models").as_array().size(), 3u);
  EXPECT_EQ(o.at("models").as_array()[2].at("model").as_string(), "claude-haiku-x");

  // The org's rows are per model across teams, in UTC: Dec 1 has sonnet from both teams.
  o = ok(get(usage_by_model, {{"period", "day"}}));
  auto& org_models = o.at("models").as_array();
  ASSERT_EQ(org_models.size(), 1u);
  EXPECT_EQ(org_models[0].at("model").as_string(), "claude-sonnet-4");
  EXPECT_EQ(nanos_of(org_models[0], "total_cost_nanos"), 11'250'000'000);
  EXPECT_EQ(nanos_of(org_models[0], "rejected_cost_nanos"), 500'000'000);
}

TEST_F(handlers_usage, usage_without_an_agent_or_a_known_model_is_the_rest_of_the_total) {
  create(R"({"id": "ny", "timezone": "America/New_York"})");
  agent("ny", "eng-1");
  // A report from the reports topic without agent, session or model: only the team rows.
  usage_recorded u;
  u.team = team_id{"ny"};
  u.cost = nanos{300'000'000};
  u.tokens.input = 70;
  u.occurred_at = now_ms - 3'600'000;
  u.day = "2026-11-30";
  u.month = "2026-11";
  ledger.state().apply(event{event_id{"r-0-1"}, u.occurred_at, "test", u});
  auto s = session("eng-1", "m1");
  ASSERT_EQ(report(s, R"({"input_tokens": 5, "cost_usd": 0.2})").result(), http::status::ok);

  // Both views list what they can name and give the rest as one entry with a null name, so
  // their entries add up to the team's total.
  auto o = ok(get(usage_by_agent, {{"period", "day"}}, ny_reader));
  EXPECT_EQ(nanos_of(o, "total_cost_nanos"), 500'000'000);
  auto& agents = o.at("agents").as_array();
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_TRUE(agents[0].at("agent_id").is_null());
  EXPECT_EQ(nanos_of(agents[0], "total_cost_nanos"), 300'000'000);
  EXPECT_EQ(nanos_of(agents[0], "total_input_tokens"), 70);
  EXPECT_EQ(agents[1].at("agent_id").as_string(), "eng-1");
  EXPECT_EQ(nanos_of(agents[1], "total_cost_nanos"), 200'000'000);

  o = ok(get(usage_by_model, {{"period", "day"}}, ny_reader));
  auto& models = o.at("models").as_array();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("model").as_string(), "");  // reported without a model
  EXPECT_EQ(nanos_of(models[0], "total_cost_nanos"), 300'000'000);
  EXPECT_EQ(models[1].at("model").as_string(), "m1");
  EXPECT_EQ(nanos_of(models[1], "total_cost_nanos"), 200'000'000);
}

TEST_F(handlers_usage, by_project_lists_every_team_for_the_org_and_only_its_own_for_a_team) {
  fleet();
  auto o = ok(get(usage_by_project, {{"period", "month"}}));
  auto& projects = o.at("projects").as_array();
  ASSERT_EQ(projects.size(), 2u);
  // Each team in its own zone: beta's December (UTC), ny's November (New York).
  EXPECT_EQ(projects[0].at("project_id").as_string(), "beta");
  EXPECT_EQ(projects[0].at("start").as_string(), "2026-12-01");
  EXPECT_EQ(nanos_of(projects[0], "total_cost_nanos"), 10'000'000'000);
  EXPECT_EQ(nanos_of(projects[0], "rejected_cost_nanos"), 500'000'000);
  EXPECT_EQ(projects[1].at("project_id").as_string(), "ny");
  EXPECT_EQ(projects[1].at("name").as_string(), "New York");
  EXPECT_EQ(projects[1].at("start").as_string(), "2026-11-01");
  EXPECT_EQ(nanos_of(projects[1], "total_cost_nanos"), 7'875'000'000);
  EXPECT_EQ(nanos_of(o, "total_cost_nanos"), 17'875'000'000);

  auto res = get(usage_by_project, {{"period", "month"}}, ny_reader);
  o = ok(res);
  ASSERT_EQ(o.at("projects").as_array().size(), 1u);
  EXPECT_EQ(o.at("projects").as_array()[0].at("project_id").as_string(), "ny");
  EXPECT_EQ(res.body().find("beta"), std::string::npos) << res.body();
}

TEST_F(handlers_usage, daily_gives_one_entry_per_day_inclusive_in_the_scopes_zone) {
  fleet();
  auto o = ok(get(usage_daily, {{"start", "2026-11-22"}, {"end", "2026-11-30"}}, ny_reader));
  auto& days = o.at("days").as_array();
  ASSERT_EQ(days.size(), 9u);
  auto cost = [&](std::size_t i) { return nanos_of(days[i], "total_cost_nanos"); };
  EXPECT_EQ(days[0].at("date").as_string(), "2026-11-22");
  EXPECT_EQ(cost(0), 0);
  EXPECT_EQ(cost(1), 4'000'000'000);  // 11-23 in New York (04:30Z on the 24th)
  EXPECT_EQ(cost(2), 125'000'000);
  EXPECT_EQ(cost(7), 2'500'000'000);
  EXPECT_EQ(days[8].at("date").as_string(), "2026-11-30");
  EXPECT_EQ(cost(8), 1'250'000'000);
  EXPECT_EQ(nanos_of(days[8], "run_count"), 2);
  EXPECT_EQ(nanos_of(o, "total_cost_nanos"), 7'875'000'000);

  // The org in UTC days.
  o = ok(get(usage_daily, {{"start", "2026-11-24"}, {"end", "2026-12-01"}}));
  auto& utc = o.at("days").as_array();
  ASSERT_EQ(utc.size(), 8u);
  EXPECT_EQ(nanos_of(utc[0], "total_cost_nanos"), 4'125'000'000);
  EXPECT_EQ(nanos_of(utc[6], "total_cost_nanos"), 2'500'000'000);
  EXPECT_EQ(nanos_of(utc[7], "total_cost_nanos"), 11'250'000'000);
  EXPECT_EQ(nanos_of(utc[7], "rejected_cost_nanos"), 500'000'000);

  // Without a range: the 30 days ending today. At most 366 days.
  o = ok(get(usage_daily, {{"team_id", "ny"}}));
  EXPECT_EQ(o.at("days").as_array().size(), 30u);
  EXPECT_EQ(o.at("end").as_string(), "2026-11-30");
  o = ok(get(usage_daily, {{"start", "2025-11-30"}, {"end", "2026-11-30"}}));
  EXPECT_EQ(o.at("days").as_array().size(), 366u);
  EXPECT_EQ(get(usage_daily, {{"start", "2025-11-29"}, {"end", "2026-11-30"}}).result(),
            http::status::bad_request);
}

TEST_F(handlers_usage, bad_queries_are_400_problems) {
  fleet();
  auto bad = [&](handler h, pairs q) {
    auto res = get(h, std::move(q));
    EXPECT_EQ(res.result(), http::status::bad_request) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  };
  bad(usage_summary, {{"period", "year"}});
  bad(usage_by_agent, {{"period", ""}});
  bad(usage_by_model, {{"period", "Month"}});
  bad(usage_by_project, {{"period", "weekly"}});
  bad(usage_summary, {{"team_id", "a/b"}});
  bad(usage_daily, {{"start", "2026-13-01"}, {"end", "2026-12-01"}});
  bad(usage_daily, {{"start", "2026-02-29"}, {"end", "2026-03-01"}});  // not a leap year
  bad(usage_daily, {{"start", "2026-11-5"}, {"end", "2026-11-30"}});
  bad(usage_daily, {{"start", "2026-12-01"}, {"end", "2026-11-30"}});
  EXPECT_EQ(get(usage_summary, {{"team_id", "nope"}}).result(), http::status::not_found);
}

TEST_F(handlers_usage, a_team_credential_never_sees_another_team) {
  fleet();
  for (handler h : {usage_summary, usage_by_agent, usage_by_project, usage_by_model, usage_daily,
                    get_limits, limits_status}) {
    EXPECT_EQ(get(h, {{"team_id", "beta"}}, ny_reader).result(), http::status::forbidden);
    EXPECT_EQ(get(h, {{"team_id", "ny"}}, beta_agent).result(), http::status::forbidden);
    // Without team_id a team credential gets its own team, never the org.
    auto res = get(h, {}, ny_reader);
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    EXPECT_EQ(res.body().find("beta"), std::string::npos) << res.body();
    EXPECT_EQ(res.body().find("b-1"), std::string::npos) << res.body();
    EXPECT_EQ(res.body().find(R"("scope":"org")"), std::string::npos) << res.body();
    // A credential with neither a team nor org-wide rights gets nothing.
    EXPECT_EQ(get(h, {}, principal{role::reader, "", "k-x"}).result(), http::status::forbidden);
  }
  // Its own team's numbers, exactly: the team credential's summary is the team's.
  auto o = ok(get(usage_summary, {{"period", "day"}}, ny_reader));
  EXPECT_EQ(o.at("team_id").as_string(), "ny");
  EXPECT_EQ(nanos_of(o, "total_cost_nanos"), 1'250'000'000);
}

// ---- limits ----

class handlers_usage_limits : public handlers_usage {
 protected:
  void SetUp() override {
    handlers_usage::SetUp();
    policy.global.cost_per_day = nanos{100'000'000'000};
    policy.global.max_concurrent_sessions = 5;
    policy.thresholds.clear();  // the alerts a limit change adds: thresholds_test.cc
    policy.team_default.cost_per_month = nanos{200'000'000'000};
    policy.agent_default.cost_per_run = nanos{50'000'000'000};
    policy.agent_default.tokens_per_run = 100'000;
    policy.teams["ny"] = limit_set{};
    policy.teams["ny"].cost_per_day = nanos{30'000'000'000};
    policy.teams["ny"].cost_per_month = nanos{300'000'000'000};
  }

  std::size_t appended() const { return ledger.appended().size(); }
  http_response put(std::string body, principal who = admin, std::string key = {}) {
    return call(put_limits, http::verb::put, std::move(body), {}, {}, who, std::move(key));
  }
};

TEST_F(handlers_usage_limits, get_answers_the_config_shape_for_the_callers_scope) {
  fleet();
  auto res = get(get_limits);
  auto o = ok(res);
  auto& limits = o.at("limits").as_object();
  EXPECT_NE(res.body().find(R"("global":{"max_cost_per_day":100,"max_cost_per_day_nanos":)"
                            R"(100000000000,"max_cost_per_month":null,)"),
            std::string::npos)
      << res.body();
  EXPECT_EQ(limits.at("global").at("max_concurrent_agents").as_int64(), 5);
  EXPECT_EQ(nanos_of(limits.at("per_project").at("default"), "max_cost_per_month_nanos"),
            200'000'000'000);
  EXPECT_EQ(nanos_of(limits.at("per_agent").at("default"), "max_cost_per_run_nanos"),
            50'000'000'000);
  EXPECT_EQ(nanos_of(limits.at("per_agent").at("eng-1"), "max_tokens_per_run"), 100'000);
  EXPECT_TRUE(limits.at("per_agent").at("b-1").is_object());
  auto& projects = o.at("projects").as_object();
  EXPECT_EQ(nanos_of(projects.at("ny").at("limits"), "max_cost_per_day_nanos"), 30'000'000'000);
  EXPECT_EQ(nanos_of(projects.at("beta").at("limits"), "max_cost_per_month_nanos"),
            200'000'000'000);
  EXPECT_TRUE(projects.at("beta").at("limits").at("max_cost_per_day").is_null());

  // A team credential: its team and its agents, nothing org-wide.
  res = get(get_limits, {}, ny_reader);
  o = ok(res);
  EXPECT_FALSE(o.at("limits").as_object().contains("global"));
  EXPECT_FALSE(o.at("limits").as_object().contains("per_project"));
  EXPECT_EQ(o.at("limits").at("per_agent").as_object().size(), 2u);  // eng-1, eng-2
  EXPECT_EQ(o.at("projects").as_object().size(), 1u);
  EXPECT_EQ(res.body().find("beta"), std::string::npos);
}

TEST_F(handlers_usage_limits, put_sets_each_changed_scope_as_one_limits_set_event) {
  fleet();
  const auto before = appended();
  auto res = put(R"({
      "limits": {"global": {"max_cost_per_day": 150},
                 "per_agent": {"eng-1": {"max_cost_per_day": 0.5, "max_tokens_per_day": 9000}}},
      "projects": {"ny": {"limits": {"max_cost_per_day": 1.2e1}}}})");
  auto o = ok(res);
  ASSERT_EQ(o.at("changed").as_array().size(), 3u) << res.body();
  EXPECT_EQ(o.at("changed").as_array()[0].as_string(), "global");
  EXPECT_EQ(nanos_of(o.at("projects").at("ny").at("limits"), "max_cost_per_day_nanos"),
            12'000'000'000);
  ASSERT_EQ(appended() - before, 3u);
  std::vector<limits_set> events;
  for (auto i = before; i < appended(); ++i) {
    events.push_back(std::get<limits_set>(ledger.appended()[i].payload));
  }
  EXPECT_EQ(events[0].scope, limit_scope::global);
  EXPECT_TRUE(events[0].team.empty());
  EXPECT_EQ(events[0].limits.cost_per_day, nanos{150'000'000'000});
  EXPECT_EQ(events[0].limits.max_concurrent_sessions, 5);  // merged over what is in force
  EXPECT_EQ(events[1].scope, limit_scope::agent);
  EXPECT_EQ(events[1].team, team_id{"ny"});
  EXPECT_EQ(events[1].scope_id, "eng-1");
  EXPECT_EQ(events[1].limits.cost_per_day, nanos{500'000'000});
  EXPECT_EQ(events[1].limits.tokens_per_run, 100'000);
  EXPECT_EQ(events[2].scope, limit_scope::team);
  EXPECT_EQ(events[2].limits.cost_per_month, nanos{300'000'000'000});

  // In force at once: GET shows them, and a decision uses them (eng-1 spent 1.25 today: over).
  o = ok(get(get_limits));
  EXPECT_EQ(nanos_of(o.at("limits").at("global"), "max_cost_per_day_nanos"), 150'000'000'000);
  EXPECT_EQ(nanos_of(o.at("limits").at("per_agent").at("eng-1"), "max_tokens_per_day"), 9000);
  EXPECT_EQ(report(s1, R"({"input_tokens": 1, "cost_usd": 0.01})").result(),
            http::status::payment_required);

  // GET's answer PUT back changes nothing and appends nothing.
  const auto n = appended();
  o = ok(put(get(get_limits).body()));
  EXPECT_TRUE(o.at("changed").as_array().empty());
  EXPECT_EQ(appended(), n);

  // null removes one limit; absent keys stay.
  o = ok(put(R"({"projects": {"ny": {"limits": {"max_cost_per_day": null}}}})", ny_admin));
  EXPECT_TRUE(o.at("projects").at("ny").at("limits").at("max_cost_per_day").is_null());
  EXPECT_EQ(nanos_of(o.at("projects").at("ny").at("limits"), "max_cost_per_month_nanos"),
            300'000'000'000);
  EXPECT_EQ(appended(), n + 1);
}

TEST_F(handlers_usage_limits, a_retried_put_with_the_same_key_is_the_same_facts) {
  fleet();
  const auto before = appended();
  const std::string body = R"({"per_agent": {}, "projects": {"beta": {"limits":
      {"max_cost_per_month_nanos": 7000000000, "max_cost_per_month": 7}}}})";
  // "per_agent" at the top level is a typo for limits.per_agent: refused.
  EXPECT_EQ(put(body, admin, "put-1").result(), http::status::unprocessable_entity);
  const std::string fixed = R"({"projects": {"beta": {"limits":
      {"max_cost_per_month_nanos": 7000000000, "max_cost_per_month": 7}}}})";
  ASSERT_EQ(put(fixed, admin, "put-1").result(), http::status::ok);
  ASSERT_EQ(appended(), before + 1);
  EXPECT_EQ(ledger.appended().back().id, event_id{"put-1.t.beta"});
  auto o = ok(put(fixed, admin, "put-1"));
  EXPECT_TRUE(o.at("changed").as_array().empty());
  EXPECT_EQ(o.at("unchanged").as_array()[0].as_string(), "team:beta");
  EXPECT_EQ(appended(), before + 1);
}

TEST_F(handlers_usage_limits, a_refused_put_changes_nothing) {
  fleet();
  const auto before = appended();
  auto refused = [&](std::string body, http::status want, principal who = admin) {
    auto res = put(std::move(body), who);
    EXPECT_EQ(res.result(), want) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  };
  using s = http::status;
  // A typo in a limit must not pass as "no limit".
  refused(R"({"projects": {"ny": {"limits": {"max_cost_per_dya": 1}}}})", s::unprocessable_entity);
  refused(R"({"projects": {"ny": {"limits": {"max_cost_per_day": -1}}}})", s::unprocessable_entity);
  refused(R"({"projects": {"ny": {"limits": {"max_cost_per_day": 1,
              "max_cost_per_day_nanos": 2000000000}}}})",
          s::unprocessable_entity);
  refused(R"({"projects": {"ny": {"limits": {"max_cost_per_day": "1"}}}})",
          s::unprocessable_entity);
  refused(R"({"projects": {"ny": {"limits": null}}})", s::unprocessable_entity);
  // The defaults are config.yaml's; repeating them unchanged is fine, changing them is not.
  refused(R"({"limits": {"per_project": {"default": {"max_cost_per_month": 1}}}})",
          s::unprocessable_entity);
  // One missing scope refuses the whole PUT, before the valid scopes are decided.
  refused(R"({"limits": {"global": {"max_cost_per_day": 1}},
              "projects": {"nope": {"limits": {"max_cost_per_day": 1}}}})",
          s::not_found);
  refused(R"({"limits": {"per_agent": {"ghost": {"max_cost_per_day": 1}}}})", s::not_found);
  refused(R"({"projects": {"ny": {"limits": {}}}, "teams": {"beta": {"limits": {}}}})",
          s::unprocessable_entity);
  refused("[1]", s::bad_request);
  // Access: admins only; a team's admin only within its team, never global.
  refused(R"({"projects": {"ny": {"limits": {"max_cost_per_day": 1}}}})", s::forbidden, ny_reader);
  refused(R"({"projects": {"beta": {"limits": {"max_cost_per_day": 1}}}})", s::forbidden, ny_admin);
  refused(R"({"limits": {"per_agent": {"b-1": {"max_cost_per_day": 1}}}})", s::forbidden, ny_admin);
  refused(R"({"limits": {"global": {"max_cost_per_day": 1}}})", s::forbidden, ny_admin);
  EXPECT_EQ(appended(), before);
  auto o = ok(get(get_limits));
  EXPECT_EQ(nanos_of(o.at("projects").at("ny").at("limits"), "max_cost_per_day_nanos"),
            30'000'000'000);
  // The unchanged defaults pass with a change beside them.
  o = ok(put(R"({"limits": {"per_project": {"default": {"max_cost_per_month": 200}},
                            "per_agent": {"eng-2": {"max_cost_per_month": 6}}}})",
             ny_admin));
  EXPECT_EQ(o.at("changed").as_array()[0].as_string(), "agent:eng-2");
  EXPECT_EQ(appended(), before + 1);
}

TEST_F(handlers_usage_limits, status_gives_every_limit_with_spent_remaining_percent_and_reset) {
  fleet();
  ASSERT_EQ(put(R"({"limits": {"per_agent": {"eng-2": {"max_cost_per_month": 6,
                                                         "max_tokens_per_day": 10000}}}})")
                .result(),
            http::status::ok);
  auto res = get(limits_status);
  auto o = ok(res);
  EXPECT_TRUE(o.at("over_budget").as_bool());  // eng-2 spent 6.5 of 6 this month
  std::map<std::string, boost::json::object> lines;
  for (auto& l : o.at("limits").as_array()) {
    auto& x = l.as_object();
    lines[std::string(x.at("scope").as_string()) + " " + std::string(x.at("window").as_string()) +
          " " + std::string(x.at("metric").as_string())] = x;
  }
  ASSERT_TRUE(lines.contains("global day cost")) << res.body();
  auto& g = lines["global day cost"];
  EXPECT_EQ(nanos_of(g, "limit_nanos"), 100'000'000'000);
  EXPECT_EQ(nanos_of(g, "spent_nanos"), 11'250'000'000);  // UTC Dec 1
  EXPECT_EQ(nanos_of(g, "remaining_nanos"), 88'750'000'000);
  EXPECT_EQ(nanos_of(g, "percent_bp"), 1125);
  EXPECT_EQ(g.at("resets_at").as_string(), "2026-12-02T00:00:00.000Z");
  auto& conc = lines["global now concurrent_sessions"];
  EXPECT_EQ(nanos_of(conc, "limit"), 5);
  EXPECT_EQ(nanos_of(conc, "spent"), 2);  // s1, s2 active; s3 ended
  EXPECT_FALSE(conc.at("reached").as_bool());

  auto& day = lines["team:ny day cost"];
  EXPECT_EQ(nanos_of(day, "spent_nanos"), 1'250'000'000);  // New York's Nov 30
  EXPECT_EQ(day.at("resets_at").as_string(), "2026-12-01T05:00:00.000Z");
  EXPECT_EQ(day.at("team_id").as_string(), "ny");
  auto& month = lines["team:ny month cost"];
  EXPECT_EQ(nanos_of(month, "spent_nanos"), 7'875'000'000);
  EXPECT_EQ(nanos_of(month, "percent_bp"), 262);  // 2.625 %
  EXPECT_NE(res.body().find(R"("percent":2.62,)"), std::string::npos);
  EXPECT_EQ(month.at("resets_at").as_string(), "2026-12-01T05:00:00.000Z");
  auto& beta = lines["team:beta month cost"];
  EXPECT_EQ(nanos_of(beta, "spent_nanos"), 10'000'000'000);
  EXPECT_EQ(beta.at("resets_at").as_string(), "2027-01-01T00:00:00.000Z");

  auto& e2 = lines["agent:eng-2 month cost"];
  EXPECT_EQ(e2.at("agent_id").as_string(), "eng-2");
  EXPECT_EQ(nanos_of(e2, "spent_nanos"), 6'500'000'000);
  EXPECT_EQ(nanos_of(e2, "remaining_nanos"), 0);
  EXPECT_EQ(nanos_of(e2, "percent_bp"), 10833);
  EXPECT_TRUE(e2.at("reached").as_bool());
  auto& tokens = lines["agent:eng-2 day tokens"];
  EXPECT_EQ(nanos_of(tokens, "limit"), 10000);
  EXPECT_EQ(nanos_of(tokens, "spent"), 0);  // eng-2 used nothing on New York's Nov 30
  EXPECT_FALSE(tokens.at("reached").as_bool());
  EXPECT_FALSE(lines.contains("agent:eng-1 month cost"));  // no limit, no line
  ASSERT_EQ(ny_midnight_ms, now_ms + 2 * 3'600'000);

  // A team credential: its team's and agents' lines only.
  res = get(limits_status, {}, ny_reader);
  o = ok(res);
  EXPECT_EQ(res.body().find(R"("scope":"global")"), std::string::npos) << res.body();
  EXPECT_EQ(res.body().find("beta"), std::string::npos);
  EXPECT_TRUE(o.at("over_budget").as_bool());
  // ny's day and month cost, eng-2's month cost and day tokens.
  EXPECT_EQ(o.at("limits").as_array().size(), 4u) << res.body();
}

}  // namespace
}  // namespace tally::api
