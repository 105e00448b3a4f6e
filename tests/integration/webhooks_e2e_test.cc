// Webhook delivery end to end: the real `tally serve` on a real broker delivering its alerts to
// a real receiver on loopback that verifies every signature and timestamp and counts deliveries
// per webhook-id. The receiver fails the first attempts of one subscription, times out once on
// another, answers 410 on a third (which must be disabled) and 500 for ever on a fourth (which
// must dead-letter); a kill -9 while alerts are emitted and delivered loses none of them.
#include <csignal>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "consumers/control.h"
#include "consumers/webhook_registry.h"
#include "consumers/webhook_signature.h"
#include "producers/producer.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/tally_process.h"
#include "tests/support/topic_reader.h"
#include "tests/support/webhook_receiver.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

const std::string admin_key = "tly_e2e_admin_key_0123456789abcdefghij";

std::string utc_day_now() {
  auto t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// Fast retries for the test: attempts at 0, +200 ms, +400 ms; a 1 s timeout.
void write_config(http_scenario& s, const std::string& extra = {}) {
  s.o.config_path = s.dir + "/config.yaml";
  std::ofstream(s.o.config_path) << "webhooks:\n"
                                    "  allow_private_targets: true\n"
                                    "  timeout: 1s\n"
                                    "  retry_schedule: [200ms, 400ms]\n"
                                    "  jitter_percent: 0\n"
                                 << extra;
}

struct subscription {
  std::string id, secret;
};

subscription subscribe(http_client& c, webhook_receiver& rx, const std::string& path,
                       const std::string& fields) {
  auto r = c.post("/api/v1/webhooks", R"({"url": ")" + rx.url(path) + "\"" + fields + "}");
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return {};
  auto o = r.json().as_object();
  subscription s{std::string(o.at("id").as_string()), std::string(o.at("secret").as_string())};
  EXPECT_TRUE(s.secret.starts_with("whsec_")) << s.secret;
  rx.set_secret(path, s.secret);
  return s;
}

void team_with_limit(http_client& c, const std::string& team, const std::string& day_usd) {
  ASSERT_EQ(c.post("/api/v1/teams", R"({"id": ")" + team + R"(", "timezone": "UTC"})").status, 201);
  ASSERT_EQ(c.post("/api/v1/teams/" + team + "/agents", R"({"id": "a-)" + team + R"("})").status,
            201);
  auto lim = c.request(
      "PUT", "/api/v1/limits",
      R"({"projects": {")" + team + R"(": {"limits": {"max_cost_per_day": )" + day_usd + "}}}}");
  ASSERT_EQ(lim.status, 200) << lim.body;
}

std::string open_session(http_client& c, const std::string& team) {
  auto s = c.post("/api/v1/agents/a-" + team + "/sessions", R"({"model": "m"})");
  EXPECT_EQ(s.status, 201) << s.body;
  return s.status == 201 ? std::string(s.json().as_object().at("session_id").as_string()) : "";
}

std::set<std::string> day_crossings(const std::string& team) {
  std::set<std::string> out;
  for (int pct : {50, 80, 95, 100}) {
    out.insert("thr:team:" + team + ":day:" + utc_day_now() + ":" + std::to_string(pct));
  }
  return out;
}

// The requests on a path, by webhook-id.
std::map<std::string, std::vector<webhook_receiver::received>> by_id(const webhook_receiver& rx,
                                                                     const std::string& path) {
  std::map<std::string, std::vector<webhook_receiver::received>> out;
  for (auto& r : rx.requests()) {
    if (r.path == path) out[r.webhook_id].push_back(r);
  }
  return out;
}

bool delivered_all(const webhook_receiver& rx, const std::string& path,
                   const std::set<std::string>& ids) {
  auto got = by_id(rx, path);
  for (auto& id : ids) {
    bool ok = false;
    for (auto& r : got[id]) ok = ok || (r.status >= 200 && r.status < 300);
    if (!ok) return false;
  }
  return true;
}

// Every delivery of the subscription is in `state`, and there are `n` of them.
bool all_in_state(http_client& c, const std::string& sub, std::size_t n, const char* state);

json::array deliveries(http_client& c, const std::string& sub) {
  auto r = c.get("/api/v1/webhooks/" + sub + "/deliveries?limit=500");
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return {};
  return r.json().as_object().at("deliveries").as_array();
}

bool all_in_state(http_client& c, const std::string& sub, std::size_t n, const char* state) {
  auto ds = deliveries(c, sub);
  if (ds.size() != n) return false;
  for (auto& d : ds) {
    if (d.at("state") != state) return false;
  }
  return true;
}

TEST(WebhooksEndToEnd, SignedRetriedTimedOutGoneAndDeadLettered) {
  http_scenario s("webhooks", admin_key);
  write_config(s);
  webhook_receiver rx;
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  team_with_limit(c, "acme", "10");
  team_with_limit(c, "beta", "10");

  auto ok = subscribe(c, rx, "/ok", R"(, "team_id": "acme")");
  rx.fail_first("/ok", 2, 500);
  auto slow = subscribe(c, rx, "/slow", R"(, "team_id": "acme", "min_level": "warning")");
  rx.delay_once("/slow", 3000);
  auto gone = subscribe(c, rx, "/gone", R"(, "team_id": "acme")");
  rx.answer_always("/gone", 410);
  auto dead = subscribe(c, rx, "/dead", R"(, "team_id": "beta", "description": "never up")");
  rx.answer_always("/dead", 500);
  auto all = subscribe(c, rx, "/all", "");  // org-wide: both teams

  // Bad subscriptions change nothing.
  EXPECT_EQ(c.post("/api/v1/webhooks", R"({"url": "ftp://127.0.0.1/x"})").status, 422);
  EXPECT_EQ(
      c.post("/api/v1/webhooks", R"({"url": "http://127.0.0.1:1/x", "min_level": "loud"})").status,
      422);
  EXPECT_EQ(c.post("/api/v1/webhooks", R"({"team_id": "acme"})").status, 422);
  EXPECT_EQ(
      c.post("/api/v1/webhooks", R"({"url": "http://127.0.0.1:1/x", "team_id": "nope"})").status,
      404);
  EXPECT_EQ(c.get("/api/v1/webhooks").json().at("webhooks").as_array().size(), 5u);
  // The list never shows a secret.
  EXPECT_EQ(c.get("/api/v1/webhooks").body.find("whsec_"), std::string::npos);

  // acme: 0 -> 120 % in one report; beta: the same run in $0.50 steps (refused from $10 on).
  const std::string acme_session = open_session(c, "acme");
  ASSERT_EQ(c.post("/api/v1/sessions/" + acme_session + "/usage", R"({"cost_usd": 12})").status,
            200);
  const std::string beta_session = open_session(c, "beta");
  for (int i = 0; i < 24; ++i) {
    auto r = c.post("/api/v1/sessions/" + beta_session + "/usage", R"({"cost_usd": 0.5})");
    ASSERT_EQ(r.status, i < 20 ? 200 : 402) << i << ": " << r.body;
  }
  const auto acme = day_crossings("acme"), beta = day_crossings("beta");
  std::set<std::string> both = acme;
  both.insert(beta.begin(), beta.end());
  std::set<std::string> warning_up;
  for (auto& id : acme) {
    if (!id.ends_with(":50")) warning_up.insert(id);
  }

  ASSERT_TRUE(rx.wait_for(
      [&] {
        return delivered_all(rx, "/ok", acme) && delivered_all(rx, "/slow", warning_up) &&
               delivered_all(rx, "/all", both);
      },
      60s))
      << p->log();
  // The receiver counts an answer when it starts it; the dispatcher records it when it is done.
  ASSERT_TRUE(eventually([&] { return all_in_state(c, ok.id, acme.size(), "delivered"); }, 30s));
  ASSERT_TRUE(
      eventually([&] { return all_in_state(c, slow.id, warning_up.size(), "delivered"); }, 30s));

  // Every request carries a valid signature and timestamp, and its body names its id.
  for (auto& r : rx.requests()) {
    EXPECT_TRUE(r.signature_ok) << r.path << " " << r.webhook_id;
    EXPECT_TRUE(r.timestamp_ok) << r.path << " " << r.webhook_id;
    auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("data").at("id").as_string(), r.webhook_id);
    EXPECT_TRUE(body.at("type") == "budget.threshold_crossed") << r.body;
  }
  // /ok: each alert failed twice, then arrived, always with the same id.
  auto ok_reqs = by_id(rx, "/ok");
  EXPECT_EQ(ok_reqs.size(), acme.size());
  for (auto& id : acme) {
    ASSERT_EQ(ok_reqs[id].size(), 3u) << id;
    EXPECT_EQ(ok_reqs[id][0].status, 500);
    EXPECT_EQ(ok_reqs[id][1].status, 500);
    EXPECT_EQ(ok_reqs[id][2].status, 200);
  }
  for (auto& d : deliveries(c, ok.id)) {
    EXPECT_EQ(d.at("state"), "delivered") << json::serialize(d);
    EXPECT_EQ(d.at("attempts"), 3);
    auto log = d.at("attempt_log").as_array();
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(log[0].at("status"), 500);
    EXPECT_EQ(log[2].at("status"), 200);
  }
  // /slow: warning and up only; the one request held past the timeout was retried.
  auto slow_reqs = by_id(rx, "/slow");
  std::set<std::string> slow_ids;
  for (auto& [id, _] : slow_reqs) slow_ids.insert(id);
  EXPECT_EQ(slow_ids, warning_up);
  int timeouts = 0;
  for (auto& d : deliveries(c, slow.id)) {
    EXPECT_EQ(d.at("state"), "delivered") << json::serialize(d);
    for (auto& a : d.at("attempt_log").as_array()) timeouts += a.at("timed_out").as_bool();
  }
  EXPECT_EQ(timeouts, 1);
  // /all: the same four thresholds for the large report and the small ones.
  std::map<std::string, std::set<std::int64_t>> thresholds;
  for (auto& [id, reqs] : by_id(rx, "/all")) {
    auto data = json::parse(reqs[0].body).at("data").as_object();
    thresholds[std::string(data.at("team_id").as_string())].insert(
        data.at("threshold_percent").as_int64());
  }
  EXPECT_EQ(thresholds["acme"], (std::set<std::int64_t>{50, 80, 95, 100}));
  EXPECT_EQ(thresholds["acme"], thresholds["beta"]);

  // /gone: 410 disabled the subscription; nothing was sent to it twice.
  ASSERT_TRUE(eventually(
      [&] { return !c.get("/api/v1/webhooks/" + gone.id).json().at("enabled").as_bool(); }, 30s));
  auto g = c.get("/api/v1/webhooks/" + gone.id).json().as_object();
  EXPECT_EQ(g.at("disabled_reason"), "gone");
  for (auto& [id, reqs] : by_id(rx, "/gone")) EXPECT_EQ(reqs.size(), 1u) << id;
  for (auto& d : deliveries(c, gone.id)) EXPECT_EQ(d.at("state"), "cancelled");

  // /dead: three attempts each, then the dead-letter topic.
  std::vector<topic_record> dlq;
  auto dead_count = [&] {
    dlq.clear();
    for (auto& r : read_topic(s.o.brokers, s.topics.alerts_dlq)) {
      if (r.headers["tally-target"] == dead.id) dlq.push_back(r);
    }
    return dlq.size();
  };
  ASSERT_TRUE(eventually([&] { return dead_count() >= beta.size(); }, 30s));
  std::set<std::string> dead_ids;
  for (auto& r : dlq) dead_ids.insert(r.headers["webhook-id"]);
  EXPECT_EQ(dead_ids, beta);
  for (auto& [id, reqs] : by_id(rx, "/dead")) EXPECT_EQ(reqs.size(), 3u) << id;
  for (auto& d : deliveries(c, dead.id)) {
    EXPECT_EQ(d.at("state"), "dead") << json::serialize(d);
    EXPECT_EQ(d.at("attempts"), 3);
  }

  // A manual redelivery: once more, with the same id.
  const std::string again = *acme.begin();
  const auto before = rx.count(again);
  auto re = c.post("/api/v1/webhooks/" + ok.id + "/deliveries/" + again + "/redeliver", "");
  ASSERT_EQ(re.status, 202) << re.body;
  ASSERT_TRUE(rx.wait_for([&] { return rx.count(again) > before; }, 10s));
  EXPECT_EQ(c.post("/api/v1/webhooks/" + ok.id + "/deliveries/nope/redeliver", "").status, 404);

  // Deleting a subscription: it is gone from the list.
  ASSERT_EQ(c.request("DELETE", "/api/v1/webhooks/" + all.id, "").status, 204);
  EXPECT_EQ(c.get("/api/v1/webhooks/" + all.id).status, 404);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

TEST(WebhooksEndToEnd, KillNineWhileDeliveringLosesNoAlert) {
  http_scenario s("webhooks-kill", admin_key);
  write_config(s);
  webhook_receiver rx;
  auto p = s.serve();
  ASSERT_TRUE(p);
  auto c = std::make_unique<http_client>(p->http_port(), admin_key);
  auto sub = subscribe(*c, rx, "/crash", "");
  rx.fail_first("/crash", 1, 503);  // every alert has a retry pending at some point
  std::set<std::string> expected;
  const std::vector<std::string> teams = {"t1", "t2", "t3", "t4", "t5"};
  for (auto& t : teams) {
    team_with_limit(*c, t, "10");
    auto ids = day_crossings(t);
    expected.insert(ids.begin(), ids.end());
  }
  for (std::size_t i = 0; i < teams.size(); ++i) {
    const std::string session = open_session(*c, teams[i]);
    ASSERT_EQ(c->post("/api/v1/sessions/" + session + "/usage", R"({"cost_usd": 12})").status, 200);
    if (i == 1 || i == 3) {
      // Alerts of this report are being emitted and delivered now.
      ASSERT_TRUE(rx.wait_for([&] { return !rx.requests().empty(); }, 30s));
      ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
      p = s.serve();
      ASSERT_TRUE(p);
      c = std::make_unique<http_client>(p->http_port(), admin_key);
    }
  }
  ASSERT_TRUE(rx.wait_for([&] { return delivered_all(rx, "/crash", expected); }, 90s)) << p->log();
  auto got = by_id(rx, "/crash");
  std::set<std::string> ids;
  for (auto& [id, reqs] : got) {
    ids.insert(id);
    EXPECT_GE(reqs.size(), 2u) << id;  // the failed first attempt, then the retry
    EXPECT_LE(reqs.size(), 4u) << id;  // at most one more per kill
    for (auto& r : reqs) EXPECT_TRUE(r.signature_ok) << id;
  }
  EXPECT_EQ(ids, expected);
  // Each crossing was emitted: tally.alerts.v1 holds exactly the expected ids.
  std::set<std::string> on_topic;
  for (auto& r : read_topic(s.o.brokers, s.topics.alerts)) on_topic.insert(r.headers["ce_id"]);
  EXPECT_EQ(on_topic, expected);
  // The feed holds each crossing once.
  auto feed = c->get("/api/v1/alerts?limit=500").json().as_object();
  EXPECT_EQ(feed.at("count").as_int64(), static_cast<std::int64_t>(expected.size()));
  EXPECT_EQ(deliveries(*c, sub.id).size(), expected.size());
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

TEST(WebhooksEndToEnd, ASubscriptionMadeOnAnotherNodeIsFollowed) {
  http_scenario s("webhooks-follow", admin_key);
  write_config(s);
  webhook_receiver rx;
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  team_with_limit(c, "acme", "10");
  // Another node's subscription: its record on the control topic, as that node publishes it.
  webhook_subscription sub;
  sub.id = "wh_00000000000f0110";
  sub.url = rx.url("/other");
  sub.team = "acme";
  sub.secret = generate_webhook_secret();
  sub.created_at = 1;
  sub.version = 1;
  rx.set_secret("/other", sub.secret);
  {
    producer out({.brokers = s.o.brokers, .client_id = "other-node"});
    out.produce(s.topics.control, 0, "webhook/" + sub.id,
                encode_control_event(webhook_event_type, "webhook-" + sub.id + "-1", 1,
                                     encode_webhook_record(sub)),
                cloudevent_headers("webhook-" + sub.id + "-1", webhook_event_type, "tally",
                                   format_rfc3339(1)));
    ASSERT_TRUE(out.flush(10'000));
  }
  ASSERT_TRUE(eventually([&] { return c.get("/api/v1/webhooks/" + sub.id).status == 200; }, 30s));
  const std::string session = open_session(c, "acme");
  ASSERT_EQ(c.post("/api/v1/sessions/" + session + "/usage", R"({"cost_usd": 6})").status, 200);
  const std::string id = "thr:team:acme:day:" + utc_day_now() + ":50";
  ASSERT_TRUE(rx.wait_for([&] { return delivered_all(rx, "/other", {id}); }, 30s)) << p->log();
  for (auto& r : rx.requests()) EXPECT_TRUE(r.signature_ok);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

}  // namespace
}  // namespace tally::test
