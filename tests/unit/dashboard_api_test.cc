// The dashboard's API reads over an in-memory ledger: the run log (GET /api/v1/sessions) with
// its order, fields, high_tokens flag, filters and paging; the optimisation insights with their
// exact monthly saving through the API, and a dismissal that is an event (answered before the
// fold, refused to a reader, idempotent, and found again by folding the ledger into a fresh
// state, as a replay does).
#include <gtest/gtest.h>

#include <set>

#include <boost/json.hpp>

#include "api/handlers.h"
#include "projections/insight_state.h"
#include "tests/support/memory_ledger.h"

namespace tally::api {
namespace {

const time_ms nov_23 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z: day 23 of 30

using handler = void (*)(api_deps&, request_ctx&, respond_fn);
using pairs = std::vector<std::pair<std::string, std::string>>;

class dashboard_api : public ::testing::Test {
 protected:
  void SetUp() override {
    price_version v;
    v.id = "seed";
    v.models["haiku"] = make_model_price(nanos{250'000'000}, nanos{1'250'000'000});
    v.models["sonnet"] = make_model_price(nanos{3'000'000'000}, nanos{15'000'000'000});
    v.models["opus"] = make_model_price(nanos{15'000'000'000}, nanos{75'000'000'000});
    pricing.add(v);
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [this] { return now; };
    ASSERT_EQ(call(create_team, http::verb::post, R"({"id": "acme", "timezone": "UTC"})").result(),
              http::status::created);
    for (std::string a : {"eng-1", "eng-2"}) {
      ASSERT_EQ(
          call(register_agent, http::verb::post, R"({"id": ")" + a + R"("})", {{"team_id", "acme"}})
              .result(),
          http::status::created);
    }
  }

  http_response call(handler h, http::verb verb, std::string body, pairs path = {},
                     pairs query = {}, std::optional<principal> who = std::nullopt,
                     bool fold = true) {
    request_ctx ctx;
    ctx.req.method(verb);
    ctx.req.body() = std::move(body);
    ctx.path.items = std::move(path);
    ctx.query.items = std::move(query);
    ctx.caller = who.value_or(principal{role::admin, "", "k-admin"});
    std::optional<http_response> out;
    try {
      h(deps, ctx, [&](http_response res) { out = std::move(res); });
    } catch (const api_error& e) {
      out = problem(e.status, e.slug, "Refused", e.what());
    }
    ledger.deliver(true, fold);
    EXPECT_TRUE(out) << "no answer";
    return out ? std::move(*out) : http_response{};
  }

  // A run of an agent: opened a second after the previous one, its usage, then ended with
  // `end` ("completed", "failed"; empty: left active).
  std::string run(const std::string& agent, const std::string& model, const std::string& usage,
                  const std::string& end = "completed") {
    now += 1000;
    auto open = call(open_agent_session, http::verb::post, R"({"model": ")" + model + R"("})",
                     {{"agent_id", agent}});
    EXPECT_EQ(open.result(), http::status::created) << open.body();
    const std::string id(boost::json::parse(open.body()).at("session_id").as_string());
    auto u = call(report_usage, http::verb::post, usage, {{"session_id", id}});
    EXPECT_EQ(u.result(), http::status::ok) << u.body();
    if (!end.empty()) {
      now += 500;
      auto e = call(end_session, http::verb::post, R"({"status": ")" + end + R"("})",
                    {{"session_id", id}});
      EXPECT_EQ(e.result(), http::status::ok) << e.body();
    }
    return id;
  }

  boost::json::object sessions(pairs query) {
    auto res = call(list_sessions, http::verb::get, "", {}, std::move(query));
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return boost::json::parse(res.body()).as_object();
  }

  static std::vector<std::string> ids_of(const boost::json::object& page) {
    std::vector<std::string> out;
    for (auto& s : page.at("sessions").as_array()) {
      out.emplace_back(s.at("id").as_string());
    }
    return out;
  }

  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  time_ms now = nov_23;
};

TEST_F(dashboard_api, the_run_log_lists_every_session_newest_first_with_high_tokens) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(run("eng-1", "sonnet", R"({"input_tokens": 1000})"));
  const auto big = run("eng-1", "sonnet", R"({"input_tokens": 10000})", "failed");
  const auto other = run("eng-2", "haiku", R"({"input_tokens": 50, "output_tokens": 7})");
  const auto live = run("eng-1", "sonnet", R"({"input_tokens": 100})", "");
  now += 60'000;

  auto page = sessions({{"team_id", "acme"}});
  EXPECT_EQ(page.at("count").as_int64(), 8);
  EXPECT_TRUE(page.at("next_cursor").is_null());
  EXPECT_EQ(page.at("high_tokens_rule").at("factor").as_int64(), 3);
  EXPECT_EQ(ids_of(page),
            (std::vector<std::string>{live, other, big, ids[4], ids[3], ids[2], ids[1], ids[0]}));
  auto& rows = page.at("sessions").as_array();
  auto& active = rows[0].as_object();
  EXPECT_EQ(active.at("status").as_string(), "active");
  EXPECT_FALSE(active.at("ended").as_bool());
  EXPECT_TRUE(active.at("outcome").is_null());
  EXPECT_TRUE(active.at("ended_at").is_null());
  EXPECT_EQ(active.at("duration_ms").as_int64(), 60'000);  // still running: until now
  EXPECT_FALSE(active.at("high_tokens").as_bool());
  // The failed run: 10 000 tokens, over 3 x the median (1 000) of eng-1's six ended runs.
  auto& failed = rows[2].as_object();
  EXPECT_EQ(failed.at("agent_id").as_string(), "eng-1");
  EXPECT_EQ(failed.at("model").as_string(), "sonnet");
  EXPECT_EQ(failed.at("status").as_string(), "failed");
  EXPECT_EQ(failed.at("outcome").as_string(), "failed");
  EXPECT_EQ(failed.at("started_at").as_string(), format_rfc3339(nov_23 + 6'000 + 5 * 500));
  EXPECT_EQ(failed.at("duration_ms").as_int64(), 500);
  EXPECT_EQ(failed.at("input_tokens").as_int64(), 10'000);
  EXPECT_EQ(failed.at("total_tokens").as_int64(), 10'000);
  EXPECT_EQ(failed.at("cost_nanos").as_int64(), 30'000'000);  // 10 000 x $3/M
  EXPECT_TRUE(failed.at("high_tokens").as_bool());
  EXPECT_EQ(failed.at("agent_median_tokens").as_int64(), 1000);
  for (std::size_t i = 3; i < rows.size(); ++i) {
    EXPECT_FALSE(rows[i].at("high_tokens").as_bool()) << i;
    EXPECT_EQ(rows[i].at("cost_usd").as_double(), 0.003);
  }
  // eng-2 has one ended run: no median, nothing high.
  EXPECT_TRUE(rows[1].at("agent_median_tokens").is_null());
  EXPECT_EQ(rows[1].at("output_tokens").as_int64(), 7);

  EXPECT_EQ(ids_of(sessions({{"team_id", "acme"}, {"status", "active"}})),
            (std::vector<std::string>{live}));
  EXPECT_EQ(sessions({{"team_id", "acme"}, {"status", "ended"}}).at("count").as_int64(), 7);
  EXPECT_EQ(ids_of(sessions({{"team_id", "acme"}, {"status", "failed,active"}})),
            (std::vector<std::string>{live, big}));
  EXPECT_EQ(ids_of(sessions({{"team_id", "acme"}, {"agent_id", "eng-2"}})),
            (std::vector<std::string>{other}));
  EXPECT_EQ(ids_of(sessions({{"team_id", "acme"}, {"since", format_rfc3339(nov_23 + 8'500)}})),
            (std::vector<std::string>{live, other, big}));

  // Pages of 3 follow each other without a gap or a repeat.
  std::vector<std::string> paged;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    pairs q = {{"team_id", "acme"}, {"limit", "3"}};
    if (!cursor.empty()) q.emplace_back("cursor", cursor);
    auto p = sessions(q);
    for (auto& id : ids_of(p)) paged.push_back(id);
    if (p.at("next_cursor").is_null()) break;
    cursor = std::string(p.at("next_cursor").as_string());
  }
  EXPECT_EQ(paged, ids_of(page));

  // A reader of the team may read it; bad queries and an org-wide key without a team are 400.
  EXPECT_EQ(call(list_sessions, http::verb::get, "", {}, {}, principal{role::reader, "acme", "r"})
                .result(),
            http::status::ok);
  for (pairs q : std::vector<pairs>{{{"status", "paused"}},
                                    {{"limit", "0"}},
                                    {{"cursor", "bm9wZQ"}},
                                    {{"since", "yesterday"}},
                                    {{"colour", "red"}}}) {
    q.emplace_back("team_id", "acme");
    EXPECT_EQ(call(list_sessions, http::verb::get, "", {}, q).result(), http::status::bad_request)
        << q[0].first;
  }
  EXPECT_EQ(
      call(list_sessions, http::verb::get, "", {}, {}, principal{role::admin, "", "org"}).result(),
      http::status::bad_request);
  EXPECT_EQ(call(list_sessions, http::verb::get, "", {}, {{"team_id", "nope"}},
                 principal{role::admin, "", "org"})
                .result(),
            http::status::not_found);
}

TEST_F(dashboard_api, insights_with_their_saving_and_a_durable_dismissal) {
  // Five runs of 1 500 + 500 tokens on opus ($0.06 each, computed): at sonnet $0.012 each, so
  // $0.24 saved so far, x 30 / 23 for the month: $0.313043478 (rounded down).
  for (int i = 0; i < 5; ++i) {
    run("eng-1", "opus", R"({"input_tokens": 1500, "output_tokens": 500})");
  }
  auto list = [&](pairs q = {}) {
    q.emplace_back("team_id", "acme");
    auto res = call(list_insights, http::verb::get, "", {}, q);
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return boost::json::parse(res.body()).as_object();
  };
  auto all = list();
  EXPECT_EQ(all.at("month").as_string(), "2026-11");
  EXPECT_EQ(all.at("day_of_month").as_int64(), 23);
  EXPECT_EQ(all.at("days_in_month").as_int64(), 30);
  EXPECT_EQ(all.at("price_version").as_string(), "seed");
  ASSERT_EQ(all.at("count").as_int64(), 1) << boost::json::serialize(all);
  auto i = all.at("insights").at(0).as_object();
  const std::string id = "model_downgrade:eng-1:opus";
  EXPECT_EQ(i.at("id").as_string(), id);
  EXPECT_EQ(i.at("suggested_model").as_string(), "sonnet");
  EXPECT_EQ(i.at("title").as_string(), "eng-1 uses opus but averages 2k tokens/run");
  EXPECT_EQ(i.at("cost_nanos").as_int64(), 300'000'000);
  EXPECT_EQ(i.at("saving_so_far_nanos").as_int64(), 240'000'000);
  EXPECT_EQ(i.at("monthly_saving_nanos").as_int64(), 313'043'478);
  EXPECT_EQ(all.at("total_monthly_saving_nanos").as_int64(), 313'043'478);
  EXPECT_FALSE(i.at("dismissed").as_bool());
  // Money as the rest of the API writes it: an exact decimal and integer nanos.
  const std::string body =
      call(list_insights, http::verb::get, "", {}, {{"team_id", "acme"}}).body();
  EXPECT_NE(body.find(R"("monthly_saving_usd":0.313043478,"monthly_saving_nanos":313043478)"),
            std::string::npos)
      << body;

  // A reader may not dismiss; an insight the team does not have is 404; neither appends.
  const auto events = ledger.appended().size();
  auto dismiss = [&](const std::string& what, std::optional<principal> who = std::nullopt,
                     bool fold = true) {
    return call(dismiss_insight, http::verb::post, "", {{"insight_id", what}},
                {{"team_id", "acme"}}, who, fold);
  };
  EXPECT_EQ(dismiss(id, principal{role::reader, "acme", "r"}).result(), http::status::forbidden);
  auto unknown = dismiss("tiny_runs:eng-1:opus");
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_NE(unknown.body().find("insight_not_found"), std::string::npos) << unknown.body();
  EXPECT_EQ(ledger.appended().size(), events);

  // Dismissed: answered once durable, seen by reads before the fold.
  auto d = dismiss(id, std::nullopt, false);
  ASSERT_EQ(d.result(), http::status::ok) << d.body();
  auto dj = boost::json::parse(d.body()).as_object();
  EXPECT_TRUE(dj.at("dismissed").as_bool());
  EXPECT_EQ(dj.at("dismissed_by").as_string(), "k-admin");
  EXPECT_EQ(dj.at("dismissed_at").as_string(), format_rfc3339(now));
  ASSERT_EQ(ledger.appended().size(), events + 1);
  const event& e = ledger.appended().back();
  EXPECT_EQ(e.id.str(), "dismiss:" + id);
  EXPECT_EQ(event_type_name(e.payload), "tally.insight_dismissed.v1");
  auto hidden = list();
  EXPECT_EQ(hidden.at("count").as_int64(), 0);
  EXPECT_EQ(hidden.at("dismissed_count").as_int64(), 1);
  EXPECT_EQ(hidden.at("total_monthly_saving_nanos").as_int64(), 0);
  auto shown = list({{"include_dismissed", "true"}});
  ASSERT_EQ(shown.at("count").as_int64(), 1);
  EXPECT_TRUE(shown.at("insights").at(0).at("dismissed").as_bool());

  // Again: nothing more to append.
  EXPECT_EQ(dismiss(id).result(), http::status::ok);
  EXPECT_EQ(ledger.appended().size(), events + 1);

  // The ledger folded into a fresh state (a replay) holds the dismissal.
  ledger_state replayed;
  for (auto& ev : ledger.appended()) replayed.apply(ev);
  live_view view(replayed);
  auto gone = dismissed_insights(view, team_id{"acme"});
  ASSERT_TRUE(gone.contains(id));
  EXPECT_EQ(gone.at(id).by, "k-admin");
  EXPECT_EQ(gone.at(id).at, now);
}

}  // namespace
}  // namespace tally::api
