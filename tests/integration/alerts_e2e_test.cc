// Budget threshold alerts end to end: the real `tally serve` on a real broker, a team driven over
// several thresholds over HTTP with kill -9 at random moments while it emits, then a raised limit
// (resolutions). tally.alerts.v1 must hold every expected id, and no other; the feed shows each
// crossing once; after `tally replay` the feed is identical and nothing new is published.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "consumers/control.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/kafka_env.h"
#include "tests/support/tally_process.h"
#include "tests/support/topic_reader.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

const std::string admin_key = "tly_e2e_admin_key_0123456789abcdefghij";

// How often each event id appears on a topic (all partitions, beginning to end), from the
// CloudEvents `ce_id` header. Independent of the product's reader.
std::map<std::string, int> ids_on_topic(const std::string& brokers, const std::string& topic) {
  std::map<std::string, int> ids;
  for (auto& r : read_topic(brokers, topic)) {
    if (auto h = r.headers.find("ce_id"); h != r.headers.end()) ++ids[h->second];
  }
  return ids;
}

std::int64_t records_on(const std::string& brokers, const std::string& topic) {
  std::int64_t n = 0;
  for (auto& [id, count] : ids_on_topic(brokers, topic)) n += count;
  return n;
}

std::set<std::string> distinct(const std::map<std::string, int>& m) {
  std::set<std::string> s;
  for (auto& [k, v] : m) s.insert(k);
  return s;
}

// Polls until the topic holds exactly `expected` distinct ids (or the deadline).
std::map<std::string, int> wait_for_ids(const http_scenario& s,
                                        const std::set<std::string>& expected) {
  std::map<std::string, int> ids;
  eventually(
      [&] {
        ids = ids_on_topic(s.o.brokers, s.topics.alerts);
        return distinct(ids) == expected;
      },
      30s, 200ms);
  return ids;
}

std::string utc_day_now() {
  auto t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// The feed, newest first, as (id -> alert JSON).
std::vector<boost::json::object> feed(http_client& c) {
  auto r = c.get("/api/v1/alerts?team_id=acme&limit=500");
  EXPECT_EQ(r.status, 200) << r.body;
  std::vector<boost::json::object> out;
  if (r.status != 200) return out;
  const auto doc = r.json();
  for (auto& a : doc.as_object().at("alerts").as_array()) out.push_back(a.as_object());
  return out;
}

TEST(AlertsEndToEnd, CrossingsPublishedOnceAcrossKillNineAndReplay) {
  http_scenario s("alerts-kill", admin_key);
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  // Three kill points among the reports that cross or follow a crossing (20, 25, 32, 38, 40).
  std::vector<int> candidates = {20, 21, 25, 26, 32, 33, 38, 39, 40};
  std::shuffle(candidates.begin(), candidates.end(), rng);
  const std::set<int> kill_after = {candidates[0], candidates[1], candidates[2]};

  auto p = s.serve();
  ASSERT_TRUE(p);
  auto c = std::make_unique<http_client>(p->http_port(), admin_key);
  ASSERT_EQ(c->post("/api/v1/teams", R"({"id": "acme", "timezone": "UTC"})").status, 201);
  ASSERT_EQ(c->post("/api/v1/teams/acme/agents", R"({"id": "eng-1"})").status, 201);
  auto lim = c->request("PUT", "/api/v1/limits",
                        R"({"projects": {"acme": {"limits": {"max_cost_per_day": 10,
                                                             "max_cost_per_month": 12.5}}}})");
  ASSERT_EQ(lim.status, 200) << lim.body;
  auto ses = c->post("/api/v1/agents/eng-1/sessions", R"({"model": "claude-sonnet-4-5"})");
  ASSERT_EQ(ses.status, 201) << ses.body;
  const std::string session(ses.json().as_object().at("session_id").as_string());

  // 40 x $0.25 reaches the $10 day limit; the 41st is refused.
  for (int i = 1; i <= 41; ++i) {
    auto r = c->post("/api/v1/sessions/" + session + "/usage",
                     R"({"event_id": "u-)" + std::to_string(i) + R"(", "cost_usd": 0.25})");
    ASSERT_EQ(r.status, i <= 40 ? 200 : 402) << i << ": " << r.body;
    if (kill_after.contains(i)) {
      ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
      p = s.serve();
      ASSERT_TRUE(p);
      c = std::make_unique<http_client>(p->http_port(), admin_key);
    }
  }
  // A raised day limit takes the team back under the four day thresholds.
  auto raise = c->request("PUT", "/api/v1/limits",
                          R"({"projects": {"acme": {"limits": {"max_cost_per_day": 100}}}})");
  ASSERT_EQ(raise.status, 200) << raise.body;

  const std::string d = utc_day_now(), m = d.substr(0, 7);
  std::set<std::string> crossings, expected;
  for (int pct : {50, 80, 95, 100})
    crossings.insert("thr:team:acme:day:" + d + ":" + std::to_string(pct));
  for (int pct : {50, 80}) crossings.insert("thr:team:acme:month:" + m + ":" + std::to_string(pct));
  expected = crossings;
  for (int pct : {50, 80, 95, 100})
    expected.insert("res:team:acme:day:" + d + ":" + std::to_string(pct));

  auto ids = wait_for_ids(s, expected);
  EXPECT_EQ(distinct(ids), expected);
  for (auto& id : expected) EXPECT_GE(ids[id], 1) << id;

  // The feed: each crossing exactly once, the day ones resolved.
  auto rows = feed(*c);
  std::map<std::string, int> seen;
  for (auto& a : rows) ++seen[std::string(a.at("id").as_string())];
  EXPECT_EQ(rows.size(), crossings.size());
  for (auto& id : crossings) EXPECT_EQ(seen[id], 1) << id;
  for (auto& a : rows) {
    const bool day = a.at("window").as_string() == "day";
    EXPECT_EQ(a.at("resolved").as_bool(), day) << boost::json::serialize(a);
    EXPECT_EQ(a.at("scope").as_object().at("id").as_string(), "acme");
  }
  // Acknowledge one; the acknowledgement is an event, so it survives the replay below.
  const std::string acked = "thr:team:acme:month:" + m + ":80";
  auto ack = c->post("/api/v1/alerts/" + acked + "/ack", "");
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_TRUE(ack.json().as_object().at("acknowledged").as_bool());
  auto before = c->get("/api/v1/alerts?team_id=acme&limit=500");
  ASSERT_EQ(before.status, 200);
  ASSERT_EQ(p->terminate(30s), 0) << p->log();

  const std::int64_t published = records_on(s.o.brokers, s.topics.alerts);
  ASSERT_EQ(run_tally(tally_args("replay", s.o), s.dir + "/replay.log", 60s), 0);
  p = s.serve();
  ASSERT_TRUE(p);
  c = std::make_unique<http_client>(p->http_port(), admin_key);
  auto after = c->get("/api/v1/alerts?team_id=acme&limit=500");
  EXPECT_EQ(after.body, before.body);
  // The replay rebuilt the outbox; serving again drops it all as already published.
  std::string outbox;
  eventually(
      [&] {
        outbox = dump_store_raw(s.o.data_dir, {"outbox"});
        return outbox.empty();
      },
      20s);
  EXPECT_EQ(outbox, "");
  EXPECT_EQ(records_on(s.o.brokers, s.topics.alerts), published);
  EXPECT_EQ(distinct(ids_on_topic(s.o.brokers, s.topics.alerts)), expected);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

TEST(AlertsEndToEnd, FeedFiltersTeamsAndConfig) {
  http_scenario s("alerts-feed", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  for (std::string t : {"acme", "beta"}) {
    ASSERT_EQ(c.post("/api/v1/teams", R"({"id": ")" + t + R"("})").status, 201);
    ASSERT_EQ(c.post("/api/v1/teams/" + t + "/agents", R"({"id": "a-)" + t + R"("})").status, 201);
  }
  // acme alerts at 25 % and 60 % (its own thresholds), beta at the defaults.
  auto cfg = c.request("PUT", "/api/v1/alerts/config",
                       R"({"team_id": "acme", "thresholds": [{"percent": 60, "level": "warning",
                           "message": "{percent}% of {scope_id}'s {window} budget: ${spent_usd}"},
                           {"percent": 25}], "notifications": [{"type": "email", "enabled": false}]})");
  ASSERT_EQ(cfg.status, 200) << cfg.body;
  auto got = c.get("/api/v1/alerts/config?team_id=acme").json().as_object();
  EXPECT_EQ(got.at("source").as_string(), "team");
  EXPECT_EQ(got.at("alerts").at("thresholds").as_array().size(), 2u);
  EXPECT_EQ(got.at("alerts").at("thresholds").as_array()[0].at("percent").as_int64(), 25);
  EXPECT_EQ(c.get("/api/v1/alerts/config?team_id=beta").json().at("source").as_string(), "config");
  EXPECT_EQ(c.request("PUT", "/api/v1/alerts/config",
                      R"({"team_id": "acme", "thresholds": [{"percent": 0}]})")
                .status,
            422);
  ASSERT_EQ(c.request("PUT", "/api/v1/limits",
                      R"({"projects": {"acme": {"limits": {"max_cost_per_day": 10}},
                                       "beta": {"limits": {"max_cost_per_day": 10}}}})")
                .status,
            200);
  for (std::string t : {"acme", "beta"}) {
    auto ses = c.post("/api/v1/agents/a-" + t + "/sessions", R"({"model": "m"})");
    ASSERT_EQ(ses.status, 201);
    const std::string id(ses.json().as_object().at("session_id").as_string());
    ASSERT_EQ(c.post("/api/v1/sessions/" + id + "/usage", R"({"cost_usd": 6.5})").status, 200);
  }
  // acme: 25 and 60 crossed; beta: 50.
  auto acme = c.get("/api/v1/alerts?team_id=acme").json().as_object();
  ASSERT_EQ(acme.at("count").as_int64(), 2) << boost::json::serialize(acme);
  auto first = acme.at("alerts").as_array()[0].as_object();
  EXPECT_EQ(first.at("message").as_string(), "60% of acme's day budget: $6.5");
  EXPECT_EQ(first.at("spent_nanos").as_int64(), 6'500'000'000);
  EXPECT_EQ(first.at("remaining_nanos").as_int64(), 3'500'000'000);
  EXPECT_EQ(c.get("/api/v1/alerts?team_id=acme&level=warning").json().at("count").as_int64(), 1);
  auto page = c.get("/api/v1/alerts?team_id=acme&limit=1").json().as_object();
  ASSERT_EQ(page.at("count").as_int64(), 1);
  ASSERT_TRUE(page.at("next_cursor").is_string());
  auto next = c.get("/api/v1/alerts?team_id=acme&limit=1&cursor=" +
                    std::string(page.at("next_cursor").as_string()))
                  .json()
                  .as_object();
  ASSERT_EQ(next.at("count").as_int64(), 1);
  EXPECT_NE(next.at("alerts").as_array()[0].at("id"), page.at("alerts").as_array()[0].at("id"));
  EXPECT_TRUE(next.at("next_cursor").is_null());
  EXPECT_EQ(c.get("/api/v1/alerts?team_id=acme&level=loud").status, 400);
  // A key of beta sees beta's alerts only, and is refused acme's.
  auto k = c.post("/api/v1/auth/keys", R"({"role": "reader", "team": "beta", "name": "r"})");
  ASSERT_EQ(k.status, 201) << k.body;
  http_client b(p->http_port(), std::string(k.json().as_object().at("key").as_string()));
  auto own = b.get("/api/v1/alerts").json().as_object();
  ASSERT_EQ(own.at("count").as_int64(), 1);
  EXPECT_EQ(own.at("alerts").as_array()[0].at("team_id").as_string(), "beta");
  EXPECT_EQ(b.get("/api/v1/alerts?team_id=acme").status, 403);
  const std::string acme_alert(first.at("id").as_string());
  EXPECT_EQ(b.post("/api/v1/alerts/" + acme_alert + "/ack", "").status, 403);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

}  // namespace
}  // namespace tally::test
