// The usage log: the fold writes one row per decided usage event, a replay writes the same
// rows, the RocksDB store pages them by range; GET /api/v1/usage filters, pages with a cursor
// (no row missing or repeated, newest first), sees acknowledged reports before they are folded,
// refuses bad parameters (400) and other teams (403).
#include "projections/usage_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <boost/json.hpp>

#include "api/handlers.h"
#include "projections/store.h"
#include "tests/support/memory_ledger.h"

namespace tally {
namespace {

const time_ms t0 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

event usage_event(std::string id, time_ms at, bool rejected, std::string agent = "eng-1") {
  usage_decided u;
  u.team = team_id{"acme"};
  u.agent = agent_id{std::move(agent)};
  u.session = session_id{"s-1"};
  u.model = "opus\t4%";  // free text is escaped in the row
  u.effort = "max";
  u.tokens = {.input = 1, .output = 2, .cache_creation = 3, .cache_read = 4};
  u.cost = nanos{12'000'000};
  u.source = cost_source::unpriced;
  u.price_version = "v2";
  u.occurred_at = at;
  u.day = "2026-11-23";
  u.month = "2026-11";
  u.reason = rejected ? "limit_reached:team:day" : "";
  event e;
  e.id = event_id{std::move(id)};
  e.time = at;
  if (rejected) {
    e.payload = usage_rejected{u};
  } else {
    e.payload = usage_recorded{u};
  }
  return e;
}

std::vector<event> log_events() {
  std::vector<event> out;
  for (int i = 0; i < 30; ++i) {
    // Two events per millisecond: the id orders them.
    out.push_back(usage_event("u" + std::to_string(100 + i), t0 + i / 2, i % 7 == 3));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> usage_rows(
    const std::vector<ledger_state::change>& changes) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& c : changes) {
    if (c.cf == column::usage) out.emplace_back(c.key, c.value);
  }
  return out;
}

TEST(usage_log, row_round_trip_and_key_order) {
  auto e = usage_event("u1", t0, true);
  const auto& u = std::get<usage_rejected>(e.payload);
  const auto key = usage_log_key(u.team, u.occurred_at, e.id);
  EXPECT_EQ(key, "acme/" + std::to_string(t0) + "/u1");
  auto r = decode_usage_log_row(key, encode_usage_log_row(u, true));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->team.str(), "acme");
  EXPECT_EQ(r->id.str(), "u1");
  EXPECT_EQ(r->occurred_at, t0);
  EXPECT_TRUE(r->rejected);
  EXPECT_EQ(r->model, "opus\t4%");
  EXPECT_EQ(r->tokens.cache_read, 4);
  EXPECT_EQ(r->cost.count, 12'000'000);
  EXPECT_EQ(r->source, cost_source::unpriced);
  EXPECT_EQ(r->price_version, "v2");
  EXPECT_EQ(r->reason, "limit_reached:team:day");
  EXPECT_GT(usage_log_key(u.team, t0 + 1, e.id), key);
  EXPECT_LT(usage_log_key(u.team, t0, event_id{"u0"}), key);
  EXPECT_FALSE(decode_usage_log_row(key, "v1\tnot a row"));
  EXPECT_FALSE(decode_usage_log_row("acme", encode_usage_log_row(u, true)));
}

// The usual row (nothing to escape) is written on a faster path than a row with free text to
// escape or longer than that path's buffer: the text is the same.
TEST(usage_log, plain_rows_and_long_rows_have_the_one_format) {
  auto e = usage_event("u1", t0, false);
  auto u = std::get<usage_recorded>(e.payload);
  u.model = "opus-4";
  const std::string source = std::to_string(static_cast<int>(u.source));
  EXPECT_EQ(encode_usage_log_row(u, false), "v1\t2026-11-23\t" + std::to_string(t0) +
                                                "\tR\teng-1\ts-1\t\topus-4\tmax\t1\t2\t3\t4\t"
                                                "12000000\t" +
                                                source + "\tv2\t");
  u.model = std::string(600, 'm');
  u.reason = "limit_reached:team:day";
  const auto key = usage_log_key(u.team, u.occurred_at, e.id);
  auto r = decode_usage_log_row(key, encode_usage_log_row(u, true));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, u.model);
  EXPECT_EQ(r->reason, u.reason);
  EXPECT_TRUE(r->rejected);
  EXPECT_EQ(r->cost.count, 12'000'000);
}

TEST(usage_log, the_fold_writes_a_row_per_decided_event_and_a_replay_the_same_rows) {
  ledger_state a;
  for (auto& e : log_events()) a.apply(e);
  a.apply(log_events()[0]);  // a duplicate writes no second row
  auto rows = usage_rows(a.drain());
  ASSERT_EQ(rows.size(), 30u);
  std::set<std::string> ids;
  for (auto& [k, v] : rows) {
    auto r = decode_usage_log_row(k, v);
    ASSERT_TRUE(r) << k;
    ids.insert(r->id.str());
  }
  EXPECT_EQ(ids.size(), 30u);
  ledger_state b;
  for (auto& e : log_events()) b.apply(e);
  EXPECT_EQ(usage_rows(b.drain()), rows);
}

TEST(usage_log, rows_survive_in_the_store_and_a_wiped_store_replays_to_the_same_rows) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tally-usage-log-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto scan_all = [](ledger_state& s) {
    std::vector<std::pair<std::string, std::string>> out;
    s.scan_usage_log("acme/", "acme0", [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
    return out;
  };
  std::vector<std::pair<std::string, std::string>> before;
  {
    ledger_store store({.path = dir.string()});
    ledger_state state(&store);
    auto events = log_events();
    for (std::size_t i = 0; i < events.size(); ++i) {
      state.apply(events[i]);
      if (i == 9) {
        ASSERT_TRUE(store.write(state.drain()).ok());
      }
    }
    state.evict_clean_over(0);
    // Store rows and unwritten cached rows merge in key order.
    before = scan_all(state);
    ASSERT_EQ(before.size(), 30u);
    ASSERT_TRUE(std::is_sorted(before.rbegin(), before.rend()));  // last key first
    ASSERT_TRUE(store.write(state.drain()).ok());
    // A bounded scan stops when told.
    int seen = 0;
    state.scan_usage_log("acme/", "acme0",
                         [&](std::string_view, std::string_view) { return ++seen < 5; });
    EXPECT_EQ(seen, 5);
  }
  {
    ledger_store store({.path = dir.string()});
    ledger_state state(&store);
    EXPECT_EQ(scan_all(state), before);
    store.wipe();
    ledger_state replayed(&store);
    EXPECT_TRUE(scan_all(replayed).empty());
    for (auto& e : log_events()) replayed.apply(e);
    ASSERT_TRUE(store.write(replayed.drain()).ok());
    ledger_state fresh(&store);
    EXPECT_EQ(scan_all(fresh), before);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace api {
namespace {

const time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

class usage_log_api : public ::testing::Test {
 protected:
  void SetUp() override {
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [this] { return now; };
  }

  using handler = void (*)(api_deps&, request_ctx&, respond_fn);

  http_response call(handler h, std::string body,
                     std::vector<std::pair<std::string, std::string>> path,
                     std::vector<std::pair<std::string, std::string>> query = {},
                     principal who = {role::admin, "", "k-admin"}, bool fold = true) {
    request_ctx ctx;
    ctx.req.method(body.empty() ? http::verb::get : http::verb::post);
    ctx.req.body() = std::move(body);
    ctx.path.items = std::move(path);
    ctx.query.items = std::move(query);
    ctx.caller = who;
    std::optional<http_response> out;
    try {
      h(deps, ctx, [&](http_response res) { out = std::move(res); });
    } catch (const api_error& e) {
      out = problem(e.status, e.slug, "Refused", e.what());
    }
    ledger.deliver(true, fold);
    EXPECT_TRUE(out);
    return out ? std::move(*out) : http_response{};
  }

  static boost::json::object json(const http_response& res) {
    return boost::json::parse(res.body()).as_object();
  }

  http_response log(std::vector<std::pair<std::string, std::string>> query,
                    principal who = {role::admin, "", "k-admin"}) {
    return call(usage_log, "", {}, std::move(query), who);
  }

  std::string session_of(const std::string& agent) {
    auto res = call(open_agent_session, R"({"model": "claude-sonnet-4"})", {{"agent_id", agent}});
    EXPECT_EQ(res.result(), http::status::created) << res.body();
    return std::string(json(res).at("session_id").as_string());
  }

  // Team acme (a $1 daily limit) with agents eng-1 and eng-2, team beta with b-1; 12 reports
  // of eng-1 and 6 of eng-2 one minute apart over the last hours, the later ones refused once
  // the limit is reached; the last four acknowledged but not folded.
  void seed() {
    for (std::string t : {"acme", "beta"}) {
      ASSERT_EQ(call(create_team, R"({"id": ")" + t + R"("})", {}).result(), http::status::created);
    }
    for (auto [t, a] : {std::pair{"acme", "eng-1"}, {"acme", "eng-2"}, {"beta", "b-1"}}) {
      ASSERT_EQ(
          call(register_agent, R"({"id": ")" + std::string(a) + R"("})", {{"team_id", t}}).result(),
          http::status::created);
    }
    ASSERT_EQ(
        call(patch_team_settings, R"({"daily_cost_limit_usd": 1})", {{"team_id", "acme"}}).result(),
        http::status::ok);
    s1 = session_of("eng-1");
    s2 = session_of("eng-2");
    sb = session_of("b-1");
    for (int i = 0; i < 18; ++i) {
      const std::string& s = i % 3 == 2 ? s2 : s1;
      const auto at = format_rfc3339(now_ms - (60 - i) * 60'000);
      auto res =
          call(report_usage,
               R"({"input_tokens": 100, "output_tokens": 10, "cost_usd": 0.1, "event_id": "ev-)" +
                   std::to_string(i) + R"(", "occurred_at": ")" + at + R"("})",
               {{"session_id", s}}, {}, {role::admin, "", "k-admin"}, i < 14);
      ASSERT_TRUE(res.result() == http::status::ok ||
                  res.result() == http::status::payment_required)
          << res.body();
      if (res.result() == http::status::payment_required) ++rejected;
    }
    call(report_usage, R"({"input_tokens": 1, "cost_usd": 0.5})", {{"session_id", sb}});
  }

  // Every row of a query, page by page.
  std::vector<boost::json::object> all_pages(std::vector<std::pair<std::string, std::string>> q,
                                             int limit, int* pages = nullptr) {
    std::vector<boost::json::object> rows;
    std::optional<std::string> cursor;
    int n = 0;
    for (;;) {
      auto query = q;
      query.emplace_back("limit", std::to_string(limit));
      if (cursor) query.emplace_back("cursor", *cursor);
      auto res = log(query);
      EXPECT_EQ(res.result(), http::status::ok) << res.body();
      if (res.result() != http::status::ok) break;
      auto page = json(res);
      EXPECT_LE(page.at("usage").as_array().size(), static_cast<std::size_t>(limit));
      for (auto& r : page.at("usage").as_array()) rows.push_back(r.as_object());
      ++n;
      if (page.at("next_cursor").is_null()) break;
      cursor = std::string(page.at("next_cursor").as_string());
      if (n > 100) break;
    }
    if (pages) *pages = n;
    return rows;
  }

  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  time_ms now = now_ms;
  std::string s1, s2, sb;
  int rejected = 0;
};

TEST_F(usage_log_api, pages_cover_every_row_once_newest_first_including_unfolded_reports) {
  seed();
  ASSERT_GT(rejected, 0);
  int pages = 0;
  auto rows = all_pages({{"team_id", "acme"}}, 5, &pages);
  ASSERT_EQ(rows.size(), 18u);
  EXPECT_EQ(pages, 4);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ids.insert(std::string(rows[i].at("event_id").as_string()));
    EXPECT_EQ(rows[i].at("team_id"), "acme");
    if (i > 0) {
      EXPECT_GE(rows[i - 1].at("time").as_string(), rows[i].at("time").as_string());
    }
  }
  EXPECT_EQ(ids.size(), 18u);
  // Newest first: the last report (acknowledged, not folded) heads the log.
  EXPECT_EQ(rows[0].at("event_id"), "ev-17");
  EXPECT_EQ(rows[17].at("event_id"), "ev-0");
  auto& first = rows[17];
  EXPECT_EQ(first.at("input_tokens"), 100);
  EXPECT_EQ(first.at("output_tokens"), 10);
  EXPECT_EQ(first.at("cost_nanos"), 100'000'000);
  EXPECT_EQ(first.at("cost_source"), "reported");
  EXPECT_EQ(first.at("unpriced"), false);
  EXPECT_EQ(first.at("status"), "recorded");
  EXPECT_EQ(first.at("model"), "claude-sonnet-4");
  EXPECT_EQ(first.at("agent_id"), "eng-1");
  EXPECT_EQ(first.at("session_id").as_string(), s1);
  EXPECT_EQ(first.at("day"), "2026-11-23");
  EXPECT_EQ(first.at("time").as_string(), format_rfc3339(now_ms - 60 * 60'000));
  // One page of everything gives the same rows as the walk.
  auto one_res = log({{"team_id", "acme"}, {"limit", "1000"}});
  EXPECT_NE(one_res.body().find(R"("cost_usd":0.1,"cost_nanos":100000000,)"), std::string::npos);
  auto one = json(one_res);
  ASSERT_EQ(one.at("usage").as_array().size(), 18u);
  EXPECT_TRUE(one.at("next_cursor").is_null());
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(one.at("usage").at(i), rows[i]);
  // The caller's team by default: an acme reader sees acme's log.
  auto mine = json(log({}, {role::reader, "acme", "k-r"}));
  EXPECT_EQ(mine.at("usage").as_array().size(), 18u);
}

TEST_F(usage_log_api, filters) {
  seed();
  auto count = [&](std::vector<std::pair<std::string, std::string>> q) {
    q.emplace_back("team_id", "acme");
    std::size_t n = 0;
    for (auto& r : all_pages(q, 4)) {
      for (auto& [k, v] : q) {
        if (k == "agent_id" || k == "session_id" || k == "model" || k == "status") {
          EXPECT_EQ(r.at(k).as_string(), v) << k;
        }
      }
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count({{"agent_id", "eng-2"}}), 6u);
  EXPECT_EQ(count({{"session_id", s1}}), 12u);
  EXPECT_EQ(count({{"agent_id", "eng-1"}, {"session_id", s2}}), 0u);
  EXPECT_EQ(count({{"status", "rejected"}}), static_cast<std::size_t>(rejected));
  EXPECT_EQ(count({{"status", "recorded"}}), 18u - rejected);
  EXPECT_EQ(count({{"model", "claude-sonnet-4"}}), 18u);
  EXPECT_EQ(count({{"model", "other"}}), 0u);
  EXPECT_EQ(count({{"task_id", "nope"}}), 0u);
  // [start, end) in time: reports 10..14 (minutes -50..-46).
  EXPECT_EQ(count({{"start", format_rfc3339(now_ms - 50 * 60'000)},
                   {"end", format_rfc3339(now_ms - 45 * 60'000)}}),
            5u);
  EXPECT_EQ(count({{"start", "2026-11-23"}, {"end", "2026-11-23"}}), 18u);
  EXPECT_EQ(count({{"start", "2026-11-24"}}), 0u);
  EXPECT_EQ(count({{"end", "2026-11-22"}}), 0u);
  // Rejected rows carry their reason.
  for (auto& r : all_pages({{"team_id", "acme"}, {"status", "rejected"}}, 100)) {
    EXPECT_FALSE(r.at("reason").is_null());
    EXPECT_EQ(r.at("status"), "rejected");
  }
}

TEST_F(usage_log_api, bad_parameters_are_400_problems) {
  seed();
  for (auto q : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"limit", "0"}},
           {{"limit", "1001"}},
           {{"limit", "ten"}},
           {{"limit", "5x"}},
           {{"status", "maybe"}},
           {{"start", "yesterday"}},
           {{"end", "2026-13-01"}},
           {{"start", "2026-11-23"}, {"end", "2026-11-22"}},
           {{"cursor", "!!!"}},
           {{"cursor", "YWJj"}},
           {{"agent_id", "a b"}},
           {{"team_id", "a/b"}},
           {{"stauts", "rejected"}},
       }) {
    q.emplace_back("team_id", "acme");
    auto res = log(q);
    EXPECT_EQ(res.result(), http::status::bad_request) << q[0].first << "=" << q[0].second;
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  }
  // An org-wide key names the team.
  EXPECT_EQ(log({}).result(), http::status::bad_request);
  EXPECT_EQ(log({{"team_id", "nope"}}).result(), http::status::not_found);
}

TEST_F(usage_log_api, another_team_is_403) {
  seed();
  principal beta{role::admin, "beta", "k-b"};
  auto res = log({{"team_id", "acme"}}, beta);
  EXPECT_EQ(res.result(), http::status::forbidden);
  EXPECT_EQ(res.body().find("ev-"), std::string::npos);
  auto own = json(log({}, beta));
  ASSERT_EQ(own.at("usage").as_array().size(), 1u);
  EXPECT_EQ(own.at("usage").at(0).at("team_id"), "beta");
  // A cursor from acme's log reads beta's rows only (the team is not in the cursor's trust).
  auto page = json(log({{"team_id", "acme"}, {"limit", "2"}}));
  auto cross = json(log({{"cursor", std::string(page.at("next_cursor").as_string())}}, beta));
  for (auto& r : cross.at("usage").as_array()) EXPECT_EQ(r.at("team_id"), "beta");
}

}  // namespace
}  // namespace api
}  // namespace tally
