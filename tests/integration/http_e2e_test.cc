// The HTTP API end to end: the real `tally serve` on a real broker, driven over HTTP. The
// guide's flow, survival of kill -9 to the nano-dollar (acknowledged writes are never lost nor
// counted twice on retry), 64 writers racing one budget (overshoot at most one report; none when
// they reserve first), the queue of a full team, the auth matrix, rate limits, and bad input
// answered 4xx with nothing changed.
#include <cstdlib>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "consumers/control.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/kafka_env.h"
#include "tests/support/tally_process.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

const std::string admin_key = "tly_e2e_admin_key_0123456789abcdefghij";

std::int64_t num(const boost::json::value& v, std::string_view k) {
  return v.as_object().at(k).as_int64();
}

void setup_team(http_client& c, const std::string& team, const std::vector<std::string>& agents) {
  auto t = c.post("/api/v1/teams", R"({"id": ")" + team + R"(", "timezone": "UTC"})");
  ASSERT_EQ(t.status, 201) << t.body;
  for (auto& a : agents) {
    auto r = c.post("/api/v1/teams/" + team + "/agents", R"({"id": ")" + a + R"("})");
    ASSERT_EQ(r.status, 201) << r.body;
  }
}

std::string open_session(http_client& c, const std::string& agent) {
  auto r = c.post("/api/v1/agents/" + agent + "/sessions", R"({"model": "claude-sonnet-4-5"})");
  EXPECT_EQ(r.status, 201) << r.body;
  return std::string(r.json().as_object().at("session_id").as_string());
}

TEST(HttpEndToEnd, AcknowledgedUsageSurvivesKillNineExactlyAndRetriesCountOnce) {
  http_scenario s("http-kill", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  setup_team(c, "acme", {"eng-1"});
  auto session = open_session(c, "eng-1");
  // An agent key, created over the API: it must survive the crash too (control topic).
  auto k = c.post("/api/v1/auth/keys", R"({"role": "agent", "team": "acme", "name": "ci"})");
  ASSERT_EQ(k.status, 201) << k.body;
  const std::string agent_key(k.json().as_object().at("key").as_string());

  std::int64_t acknowledged = 0;
  std::vector<std::string> bodies;
  for (int i = 0; i < 60; ++i) {
    // Distinct amounts with nano-dollar digits: 0.000123457 * (i + 1).
    auto body = R"({"event_id": "u-)" + std::to_string(i) + R"(", "input_tokens": 100,
                    "output_tokens": 10, "cost_usd": )" +
                format_usd(nanos{123'457LL * (i + 1)}) + "}";
    auto r = c.post("/api/v1/sessions/" + session + "/usage", body);
    ASSERT_EQ(r.status, 200) << r.body;
    acknowledged += 123'457LL * (i + 1);
    bodies.push_back(body);
  }
  ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
  p = s.serve();
  ASSERT_TRUE(p);
  http_client c2(p->http_port(), agent_key);
  auto b = c2.get("/api/v1/agents/eng-1/budget");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(num(b.json(), "daily_spent_nanos"), acknowledged);
  // The client retries the last ten (it never saw answers, say): each is one fact.
  for (int i = 50; i < 60; ++i) {
    auto r = c2.post("/api/v1/sessions/" + session + "/usage", bodies[i]);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.json().as_object().at("duplicate").as_bool());
  }
  EXPECT_EQ(num(c2.get("/api/v1/agents/eng-1/budget").json(), "daily_spent_nanos"), acknowledged);
  // A new report after the restart: decided and folded by this process, whether or not the store
  // already held all of the first process's events when it was killed.
  auto fresh = c2.post("/api/v1/sessions/" + session + "/usage",
                       R"({"event_id": "u-after", "input_tokens": 100, "output_tokens": 10,
                           "cost_usd": 0.000000001})");
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(fresh.json().as_object().if_contains("duplicate"), nullptr) << fresh.body;
  acknowledged += 1;
  auto costs = c2.get("/api/v1/teams/acme/costs?period=day");
  EXPECT_EQ(num(costs.json(), "total_cost_nanos"), acknowledged);
  EXPECT_EQ(num(costs.json(), "total_input_tokens"), 6100);
  // Reads saw each event at once; the store holds them too once the log has them durably.
  auto metric = [&](const std::string& series) {
    auto body = http_client(p->http_port()).get("/metrics").body;
    auto at = body.find("\n" + series + " ");
    return at == std::string::npos ? -1.0 : std::atof(body.c_str() + at + series.size() + 2);
  };
  EXPECT_TRUE(eventually(
      [&] {
        const double folded = metric("tally_events_folded_total");
        return folded > 0 && metric("tally_events_stored_total") == folded;
      },
      10s, 20ms))
      << "folded " << metric("tally_events_folded_total") << ", stored "
      << metric("tally_events_stored_total");
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

// usage:batch end to end: each request's decisions for a team reach the ledger as one record (a
// CloudEvents batch). What was acknowledged survives kill -9 to the nano-dollar (the restarted
// node folds the batch records it did not write), a retried batch is all duplicates, and replay
// rebuilds the same store from the batch records.
TEST(HttpEndToEnd, BatchedReportsSurviveKillNineExactlyAndReplayIdentically) {
  http_scenario s("http-batch", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  setup_team(c, "north", {"n-1", "n-2"});
  setup_team(c, "south", {"s-1"});
  std::map<std::string, std::string> session;  // agent -> session
  for (std::string a : {"n-1", "n-2", "s-1"}) session[a] = open_session(c, a);
  std::map<std::string, std::int64_t> acknowledged;  // team -> nanos
  std::vector<std::string> bodies;
  int n = 0;
  for (int b = 0; b < 20; ++b) {
    std::string body = R"({"reports": [)";
    for (int j = 0; j < 30; ++j, ++n) {
      const std::string agent = j % 3 == 0 ? "n-1" : j % 3 == 1 ? "n-2" : "s-1";
      const std::int64_t cost = 1'000'003LL * (n + 1);
      if (j) body += ',';
      body += R"({"session_id": ")" + session[agent] + R"(", "event_id": "b-)" + std::to_string(n) +
              R"(", "input_tokens": 10, "output_tokens": 1, "cost_usd": )" +
              format_usd(nanos{cost}) + "}";
      acknowledged[j % 3 == 2 ? "south" : "north"] += cost;
    }
    body += "]}";
    auto r = c.post("/api/v1/usage:batch", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(num(r.json(), "accepted"), 30) << r.body;
    bodies.push_back(body);
  }
  {
    // One request of 1,000 reports for one team: its records are cut at 256 KiB of text (the
    // message size limit is 1 MB), so a few records, not one and not a thousand.
    watermarks w(s.o.brokers);
    auto ledger_records = [&] {
      std::int64_t sum = 0;
      for (int part = 0; part < s.o.partitions; ++part) {
        sum += w.high(s.o.topic_prefix + "tally.ledger.v1", part);
      }
      return sum;
    };
    const auto before = ledger_records();
    std::string body = R"({"reports": [)";
    for (int j = 0; j < 1000; ++j, ++n) {
      const std::int64_t cost = 1'000'003LL * (n + 1);
      if (j) body += ',';
      body += R"({"session_id": ")" + session["s-1"] + R"(", "event_id": "b-)" + std::to_string(n) +
              R"(", "input_tokens": 10, "output_tokens": 1, "cost_usd": )" +
              format_usd(nanos{cost}) + "}";
      acknowledged["south"] += cost;
    }
    body += "]}";
    auto r = c.post("/api/v1/usage:batch", body);
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
    EXPECT_EQ(num(r.json(), "accepted"), 1000);
    const auto records = ledger_records() - before;
    EXPECT_GE(records, 2);
    EXPECT_LE(records, 8);
  }
  ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
  p = s.serve();
  ASSERT_TRUE(p);
  http_client c2(p->http_port(), admin_key);
  auto spent = [&](const std::string& team) {
    return num(c2.get("/api/v1/teams/" + team + "/costs?period=day").json(), "total_cost_nanos");
  };
  EXPECT_EQ(spent("north"), acknowledged["north"]);
  EXPECT_EQ(spent("south"), acknowledged["south"]);
  // A retried batch: every report is one fact already.
  auto again = c2.post("/api/v1/usage:batch", bodies.back());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(num(again.json(), "duplicates"), 30) << again.body;
  EXPECT_EQ(num(again.json(), "accepted"), 0) << again.body;
  EXPECT_EQ(spent("north"), acknowledged["north"]);
  EXPECT_EQ(spent("south"), acknowledged["south"]);
  ASSERT_EQ(p->terminate(30s), 0) << p->log();
  const std::vector<std::string> columns = {"totals", "entities", "dedup", "usage"};
  const std::string before = dump_store_raw(s.o.data_dir, columns);
  EXPECT_NE(before.find("b-1599"), std::string::npos);
  ASSERT_EQ(run_tally(tally_args("replay", s.o), s.dir + "/replay.log", 120s), 0);
  EXPECT_EQ(dump_store_raw(s.o.data_dir, columns), before);
}

TEST(HttpEndToEnd, SixtyFourWritersRacingOneBudgetOvershootByAtMostOneReport) {
  http_scenario s("http-race", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  const int writers = 64;
  std::vector<std::string> agents;
  for (int i = 0; i < writers; ++i) agents.push_back("racer-" + std::to_string(i));
  std::vector<std::string> sessions;
  {
    http_client c(p->http_port(), admin_key);
    setup_team(c, "race", agents);
    for (auto& a : agents) sessions.push_back(open_session(c, a));
    auto l = c.patch("/api/v1/settings/teams/race", R"({"daily_cost_limit_usd": 1.00})");
    ASSERT_EQ(l.status, 200) << l.body;
  }
  const std::int64_t cost = 7'000'000;  // $0.007: the limit is not a multiple of it
  std::atomic<std::int64_t> accepted{0};
  std::atomic<int> stops{0}, refused{0}, other{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < writers; ++w) {
    ts.emplace_back([&, w] {
      http_client c(p->http_port(), admin_key);
      for (int i = 0; i < 1000; ++i) {
        auto r = c.post("/api/v1/sessions/" + sessions[w] + "/usage",
                        R"({"cost_usd": 0.007, "output_tokens": 1})");
        if (r.status == 200) {
          accepted += cost;
          if (r.json().as_object().at("action").as_string() == "stop") ++stops;
        } else if (r.status == 402) {
          ++refused;
          return;
        } else {
          ++other;
          return;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  const std::int64_t limit = 1'000'000'000;
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(refused.load(), writers);  // everyone was stopped at the door
  EXPECT_GE(accepted.load(), limit);
  EXPECT_LT(accepted.load() - limit, cost) << "overshoot beyond one report";
  EXPECT_EQ(stops.load(), 1);  // exactly one report crossed, and was told to stop
  http_client c(p->http_port(), admin_key);
  auto costs = c.get("/api/v1/teams/race/costs?period=day");
  EXPECT_EQ(num(costs.json(), "total_cost_nanos"), accepted.load());
  EXPECT_EQ(num(costs.json(), "rejected_cost_nanos"), cost * writers);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

TEST(HttpEndToEnd, CredentialsRolesTeamsAndRateLimits) {
  http_scenario s("http-auth", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client admin(p->http_port(), admin_key);
  setup_team(admin, "a", {"a-1"});
  setup_team(admin, "b", {"b-1"});
  auto key_of = [&](std::string role, std::string team) {
    auto r = admin.post("/api/v1/auth/keys",
                        R"({"role": ")" + role + R"(", "team": ")" + team + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.json().as_object().at("key").as_string());
  };
  const auto a_agent = key_of("agent", "a"), b_agent = key_of("agent", "b"),
             a_reader = key_of("reader", "a");
  auto session_a = open_session(admin, "a-1");
  http_client c(p->http_port());
  auto status = [&](const std::string& key, const std::string& method, const std::string& target,
                    const std::string& body = "") {
    c.set_key(key);
    return c.request(method, target, body).status;
  };
  const std::string usage = "/api/v1/sessions/" + session_a + "/usage";
  EXPECT_EQ(status("", "GET", "/api/v1/agents/a-1/budget"), 401);
  EXPECT_EQ(status("tly_not_a_key", "GET", "/api/v1/agents/a-1/budget"), 401);
  EXPECT_EQ(status(a_agent, "GET", "/api/v1/agents/a-1/budget"), 200);
  EXPECT_EQ(status(b_agent, "GET", "/api/v1/agents/a-1/budget"), 403);
  EXPECT_EQ(status(b_agent, "POST", usage, R"({"cost_usd": 1})"), 403);
  EXPECT_EQ(status(b_agent, "GET", "/api/v1/teams/a/costs"), 403);
  EXPECT_EQ(status(a_reader, "POST", usage, R"({"cost_usd": 1})"), 403);
  EXPECT_EQ(status(a_reader, "GET", "/api/v1/teams/a/costs"), 200);
  EXPECT_EQ(status(a_agent, "PATCH", "/api/v1/settings/teams/a", R"({"daily_cost_limit_usd": 1})"),
            403);
  EXPECT_EQ(status("", "GET", "/healthz"), 200);
  // Nothing the refused writes tried reached the ledger.
  c.set_key(a_reader);
  EXPECT_EQ(num(c.get("/api/v1/teams/a/costs?period=day").json(), "total_cost_nanos"), 0);

  // A key exchanged for a JWT: the bearer token carries the same role and team.
  c.set_key(a_agent);
  auto t = c.post("/api/v1/auth/token", "");
  ASSERT_EQ(t.status, 200) << t.body;
  const std::string token(t.json().as_object().at("access_token").as_string());
  c.set_key("");
  auto bearer = [&](const std::string& target) {
    return c.request("GET", target, "", {{"Authorization", "Bearer " + token}}).status;
  };
  EXPECT_EQ(bearer("/api/v1/agents/a-1/budget"), 200);
  EXPECT_EQ(bearer("/api/v1/agents/b-1/budget"), 403);

  // Revoked: refused from then on.
  auto list = admin.get("/api/v1/auth/keys?team=b");
  ASSERT_EQ(list.status, 200);
  std::string b_key_id;
  const auto keys = list.json();
  for (auto& k : keys.as_object().at("keys").as_array()) {
    if (k.as_object().at("role").as_string() == "agent") {
      b_key_id = std::string(k.as_object().at("id").as_string());
    }
  }
  ASSERT_FALSE(b_key_id.empty());
  c.set_key(b_agent);
  auto bt = c.post("/api/v1/auth/token", "");
  ASSERT_EQ(bt.status, 200) << bt.body;
  const std::string b_token(bt.json().as_object().at("access_token").as_string());
  c.set_key("");
  auto b_bearer = [&](const std::string& method, const std::string& target) {
    return c.request(method, target, "", {{"Authorization", "Bearer " + b_token}}).status;
  };
  EXPECT_EQ(b_bearer("GET", "/api/v1/agents/b-1/budget"), 200);
  EXPECT_EQ(b_bearer("POST", "/api/v1/auth/token"), 401);  // a token does not renew itself
  EXPECT_EQ(admin.request("DELETE", "/api/v1/auth/keys/" + b_key_id, "").status, 200);
  EXPECT_EQ(status(b_agent, "GET", "/api/v1/agents/b-1/budget"), 401);
  EXPECT_EQ(b_bearer("GET", "/api/v1/agents/b-1/budget"), 401);  // nor outlives its key

  // /api/v1/auth/* is limited to 10 per minute per key: the 11th answer is 429.
  http_client r(p->http_port(), a_reader);
  int ok = 0;
  http_reply last;
  for (int i = 0; i < 11; ++i) {
    last = r.post("/api/v1/auth/token", "");
    if (last.status == 200) ++ok;
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(last.status, 429);
  EXPECT_FALSE(last.header("Retry-After").empty());
  EXPECT_EQ(last.header("X-RateLimit-Limit"), "10");
  EXPECT_EQ(last.header("X-RateLimit-Remaining"), "0");
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

TEST(HttpEndToEnd, BadInputIsAnswered4xxAndChangesNothing) {
  http_scenario s("http-bad", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  setup_team(c, "acme", {"eng-1"});
  auto session = open_session(c, "eng-1");
  ASSERT_EQ(c.post("/api/v1/sessions/" + session + "/usage", R"({"cost_usd": 0.5})").status, 200);
  const std::string usage = "/api/v1/sessions/" + session + "/usage";
  struct bad {
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    int status;
  };
  std::string deep(100, '[');
  deep += std::string(100, ']');
  for (auto& [body, headers, status] : std::vector<bad>{
           {R"({"cost_usd": 0.1)", {}, 400},
           {R"({"cost_usd": 0.1} trailing)", {}, 400},
           {R"({"cost_usd": 0.1})", {{"Content-Type", "text/plain"}}, 415},
           {R"({"nested": )" + deep + "}", {}, 400},
           {R"({"cost_usd": 0.1, "cost_usb": 2})", {}, 422},
           {R"({"cost_usd": "0.1"})", {}, 422},
           {R"({"input_tokens": -1})", {}, 422},
           {std::string(2 << 20, ' '), {}, 413},
       }) {
    auto r = c.request("POST", usage, body, headers);
    EXPECT_EQ(r.status, status) << body.substr(0, 60) << " -> " << r.body;
    if (r.status != 413) {
      EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << body.substr(0, 60);
    }
  }
  http_client fresh(p->http_port(), admin_key);
  auto b = fresh.get("/api/v1/agents/eng-1/budget");
  EXPECT_EQ(num(b.json(), "daily_spent_nanos"), 500'000'000);
  EXPECT_EQ(num(b.json(), "rejected_cost_nanos"), 0);
  // /metrics (open) counts the refusals by route and status, and shows the consumer lag.
  http_client open(p->http_port());
  auto m = open.get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(
      m.body.find(
          R"(tally_http_requests_total{route="/api/v1/sessions/{session_id}/usage",method="POST",status="422"} 3)"),
      std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("tally_consumer_lag_events "), std::string::npos);
  // The usage decided here comes back from the log as records it passes over, undecoded.
  EXPECT_TRUE(eventually(
      [&] {
        auto body = open.get("/metrics").body;
        auto at = body.find("\ntally_ledger_echoes_total ");
        return at != std::string::npos && std::atof(body.c_str() + at + 27) >= 3;
      },
      10s, 20ms));
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

// With every spend reserved first, 64 writers racing one team budget spend at most the limit, to
// the nano-dollar: each reserves $0.007, reports it with the reservation id, and stops at the
// first 402. $1.00 is not a multiple of $0.007, so the budget ends 142 reservations in.
TEST(HttpEndToEnd, SixtyFourWritersReservingFirstNeverOvershootOneBudget) {
  http_scenario s("http-reserve", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  const int writers = 64;
  std::vector<std::string> agents;
  for (int i = 0; i < writers; ++i) agents.push_back("holder-" + std::to_string(i));
  std::vector<std::string> sessions;
  {
    http_client c(p->http_port(), admin_key);
    setup_team(c, "resv", agents);
    for (auto& a : agents) sessions.push_back(open_session(c, a));
    auto l = c.patch("/api/v1/settings/teams/resv", R"({"daily_cost_limit_usd": 1.00})");
    ASSERT_EQ(l.status, 200) << l.body;
  }
  const std::int64_t cost = 7'000'000;  // $0.007
  const std::int64_t limit = 1'000'000'000;
  std::atomic<std::int64_t> accepted{0};
  std::atomic<int> reports{0}, refused{0}, other{0}, unsettled{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < writers; ++w) {
    ts.emplace_back([&, w] {
      http_client c(p->http_port(), admin_key);
      const std::string base = "/api/v1/sessions/" + sessions[w];
      for (int i = 0; i < 1000; ++i) {
        const std::string rid = "r-" + std::to_string(w) + "-" + std::to_string(i);
        auto h = c.post(
            base + "/reservations",
            R"({"amount_usd": 0.007, "ttl_seconds": 120, "reservation_id": ")" + rid + R"("})");
        if (h.status == 402) {
          ++refused;
          return;
        }
        if (h.status != 201) {
          ++other;
          return;
        }
        auto r = c.post(base + "/usage", R"({"cost_usd": 0.007, "output_tokens": 1,
                          "event_id": "u-)" + rid +
                                             R"(", "reservation_id": ")" + rid + R"("})");
        if (r.status != 200) {
          ++other;
          return;
        }
        accepted += cost;
        ++reports;
        if (!r.json().as_object().at("reservation").at("settled").as_bool()) ++unsettled;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(unsettled.load(), 0);
  EXPECT_EQ(refused.load(), writers);  // everyone ended at a refused reservation
  EXPECT_LE(accepted.load(), limit) << "overshoot with reservations";
  EXPECT_EQ(accepted.load(), limit / cost * cost);  // and the budget was used up to the last fit
  http_client c(p->http_port(), admin_key);
  auto costs = c.get("/api/v1/teams/resv/costs?period=day");
  ASSERT_EQ(costs.status, 200) << costs.body;
  // Every 2xx report counted exactly once, nothing refused, nothing left held.
  EXPECT_EQ(num(costs.json(), "total_cost_nanos"), accepted.load());
  EXPECT_EQ(num(costs.json(), "reports"), reports.load());
  EXPECT_EQ(num(costs.json(), "rejected_cost_nanos"), 0);
  auto b = c.get("/api/v1/agents/holder-0/budget");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(num(b.json(), "daily_spent_nanos"), accepted.load());
  EXPECT_EQ(num(b.json(), "daily_reserved_nanos"), 0);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

// A concurrency limit of 1: the second session is queued (202), ending the first activates it
// at once (visible to the next read), a held reservation and the queue survive kill -9, and a
// replay rebuilds the same store.
TEST(HttpEndToEnd, QueuedSessionActivatesWhenTheSlotFreesAndStateSurvivesCrashAndReplay) {
  http_scenario s("http-queue", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  std::string first, second, third;
  {
    http_client c(p->http_port(), admin_key);
    setup_team(c, "q", {"q-1", "q-2"});
    auto l = c.patch("/api/v1/settings/teams/q",
                     R"({"max_concurrent_agents": 1, "daily_cost_limit_usd": 2})");
    ASSERT_EQ(l.status, 200) << l.body;
    first = open_session(c, "q-1");
    auto r = c.post("/api/v1/agents/q-2/sessions", R"({"model": "claude-sonnet-4-5"})");
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.json().as_object().at("status").as_string(), "queued");
    EXPECT_EQ(num(r.json(), "queue_position"), 1);
    second = std::string(r.json().as_object().at("session_id").as_string());
    r = c.post("/api/v1/sessions/start", R"({"agent_id": "q-1"})");
    ASSERT_EQ(r.status, 202) << r.body;
    third = std::string(r.json().as_object().at("session_id").as_string());
    EXPECT_EQ(c.post("/api/v1/sessions/" + second + "/usage", R"({"cost_usd": 0.1})").status, 409);
    auto g = c.get("/api/v1/sessions/" + second);
    EXPECT_EQ(g.json().as_object().at("status").as_string(), "queued");
    auto e = c.post("/api/v1/sessions/" + first + "/end", "{}");
    ASSERT_EQ(e.status, 200) << e.body;
    g = c.get("/api/v1/sessions/" + second);
    EXPECT_EQ(g.json().as_object().at("status").as_string(), "active") << g.body;
    EXPECT_EQ(num(c.get("/api/v1/sessions/" + third).json(), "queue_position"), 1);
    auto h = c.post("/api/v1/sessions/" + second + "/reservations",
                    R"({"amount_usd": 0.75, "reservation_id": "keep"})");
    ASSERT_EQ(h.status, 201) << h.body;
    auto u = c.post("/api/v1/sessions/" + second + "/usage", R"({"cost_usd": 0.25})");
    ASSERT_EQ(u.status, 200) << u.body;
  }
  ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
  p = s.serve();
  ASSERT_TRUE(p);
  {
    http_client c(p->http_port(), admin_key);
    EXPECT_EQ(c.get("/api/v1/sessions/" + second).json().as_object().at("status").as_string(),
              "active");
    EXPECT_EQ(c.get("/api/v1/sessions/" + third).json().as_object().at("status").as_string(),
              "queued");
    auto b = c.get("/api/v1/agents/q-2/budget");
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(num(b.json(), "daily_reserved_nanos"), 750'000'000);
    EXPECT_EQ(num(b.json(), "daily_spent_nanos"), 250'000'000);
    auto r = c.get("/api/v1/sessions/" + second + "/reservations/keep");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().as_object().at("status").as_string(), "held");
    // Ending the second releases its hold and activates the third.
    ASSERT_EQ(c.post("/api/v1/sessions/" + second + "/end", "{}").status, 200);
    EXPECT_EQ(c.get("/api/v1/sessions/" + third).json().as_object().at("status").as_string(),
              "active");
    EXPECT_EQ(num(c.get("/api/v1/agents/q-2/budget").json(), "daily_reserved_nanos"), 0);
  }
  ASSERT_EQ(p->terminate(30s), 0) << p->log();
  const std::vector<std::string> columns = {"totals", "entities", "dedup"};
  const std::string before = dump_store_raw(s.o.data_dir, columns);
  EXPECT_NE(before.find("reservation/q/keep"), std::string::npos);
  ASSERT_EQ(run_tally(tally_args("replay", s.o), s.dir + "/replay.log", 120s), 0);
  EXPECT_EQ(dump_store_raw(s.o.data_dir, columns), before);
}

}  // namespace
}  // namespace tally::test
