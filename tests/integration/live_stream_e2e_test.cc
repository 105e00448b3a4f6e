// The live stream end to end: the real `tally serve` on a real broker. A team reader follows
// GET /api/v1/stream while usage is posted over the API: the `usage` event arrives, folded,
// with the exact nano-dollar cost, and nothing of another team; asking for another team is 403,
// a key in the query string is not a credential; Last-Event-ID replays; /metrics counts the
// open streams; stopping the server ends the streams; a batch's events arrive once each, in
// the order decided.
#include <csignal>

#include <gtest/gtest.h>

#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/sse_client.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

const std::string admin_key = "tly_live_admin_key_0123456789abcdefghij";

boost::json::object data_of(const sse_event& e) {
  return boost::json::parse(e.data).as_object();
}
std::string str(const boost::json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : "<not a string>";
}
std::int64_t num(const boost::json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->as_int64() : -1;
}

// The next `usage` event, with every event before it (other kinds included) in `seen`.
std::optional<sse_event> next_usage(sse_client& s, std::vector<sse_event>& seen) {
  while (auto e = s.next(30s)) {
    seen.push_back(*e);
    if (e->event == "usage") return e;
  }
  return std::nullopt;
}

TEST(LiveStreamEndToEnd, ATeamReaderFollowsItsUsageExactlyAndNeverSeesAnotherTeam) {
  http_scenario s("live-stream", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  const auto port = p->http_port();
  http_client admin(port, admin_key);
  for (std::string t : {"acme", "beta"}) {
    ASSERT_EQ(admin.post("/api/v1/teams", R"({"id": ")" + t + R"(", "timezone": "UTC"})").status,
              201);
    ASSERT_EQ(admin.post("/api/v1/teams/" + t + "/agents", R"({"id": ")" + t + R"(-1"})").status,
              201);
  }
  auto k = admin.post("/api/v1/auth/keys", R"({"role": "reader", "team": "acme"})");
  ASSERT_EQ(k.status, 201) << k.body;
  const std::string reader(k.json().as_object().at("key").as_string());
  auto session_of = [&](const std::string& agent) {
    auto r = admin.post("/api/v1/agents/" + agent + "/sessions", R"({"model": "m"})");
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.json().as_object().at("session_id").as_string());
  };
  const std::string acme_session = session_of("acme-1");
  const std::string beta_session = session_of("beta-1");

  // Refusals: another team, no credential, a key in the query string.
  {
    sse_client other(port, "/api/v1/stream?team_id=beta", {{"X-API-Key", reader}});
    EXPECT_EQ(other.status(), 403);
    sse_client none(port, "/api/v1/stream");
    EXPECT_EQ(none.status(), 401);
    sse_client query(port, "/api/v1/stream?api_key=" + reader + "&key=" + reader);
    EXPECT_EQ(query.status(), 401);
    sse_client bad(port, "/api/v1/stream?types=usage,nope", {{"X-API-Key", reader}});
    EXPECT_EQ(bad.status(), 400);
  }

  sse_client team(port, "/api/v1/stream", {{"X-API-Key", reader}});
  ASSERT_EQ(team.status(), 200);
  EXPECT_EQ(team.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(team.header("Cache-Control"), "no-store");
  EXPECT_EQ(team.header("X-Accel-Buffering"), "no");
  sse_client org(port, "/api/v1/stream?types=usage", {{"X-API-Key", admin_key}});
  ASSERT_EQ(org.status(), 200);
  auto metrics = admin.get("/metrics");
  EXPECT_NE(metrics.body.find("tally_live_streams_open 2"), std::string::npos) << metrics.body;

  // Beta's usage first; the org-wide stream shows it is folded and published before acme's is
  // even posted, so the team stream would have had it before acme's.
  auto b = admin.post("/api/v1/sessions/" + beta_session + "/usage",
                      R"({"event_id": "b-1", "input_tokens": 1, "cost_usd": 0.000000007})");
  ASSERT_EQ(b.status, 200) << b.body;
  std::vector<sse_event> org_seen;
  auto ob = next_usage(org, org_seen);
  ASSERT_TRUE(ob);
  EXPECT_EQ(str(data_of(*ob), "team_id"), "beta");
  EXPECT_EQ(num(data_of(*ob), "cost_nanos"), 7);

  auto a = admin.post("/api/v1/sessions/" + acme_session + "/usage",
                      R"({"event_id": "a-1", "input_tokens": 2500, "output_tokens": 800,
                          "cost_usd": 0.123456789})");
  ASSERT_EQ(a.status, 200) << a.body;
  std::vector<sse_event> team_seen;
  auto u = next_usage(team, team_seen);
  ASSERT_TRUE(u);
  auto d = data_of(*u);
  EXPECT_EQ(str(d, "team_id"), "acme");
  EXPECT_EQ(str(d, "agent_id"), "acme-1");
  EXPECT_EQ(str(d, "session_id"), acme_session);
  EXPECT_EQ(str(d, "event_id"), "a-1");
  EXPECT_EQ(str(d, "status"), "recorded");
  EXPECT_EQ(num(d, "input_tokens"), 2500);
  EXPECT_EQ(num(d, "output_tokens"), 800);
  EXPECT_EQ(num(d, "cost_nanos"), 123'456'789);
  EXPECT_NE(u->data.find(R"("cost_usd":0.123456789)"), std::string::npos) << u->data;
  for (auto& e : team_seen) {
    EXPECT_EQ(e.data.find("beta"), std::string::npos) << e.event << " " << e.data;
    EXPECT_EQ(str(data_of(e), "team_id"), "acme") << e.data;
  }
  // The org stream has acme's too, after beta's: ids increase.
  auto oa = next_usage(org, org_seen);
  ASSERT_TRUE(oa);
  EXPECT_EQ(oa->id, u->id);
  EXPECT_LT(std::stoull(ob->id), std::stoull(oa->id));

  // The session's end reaches the team stream with its agent.
  ASSERT_EQ(
      admin.post("/api/v1/sessions/" + acme_session + "/end", R"({"status": "completed"})").status,
      200);
  std::optional<sse_event> ended;
  while (auto e = team.next(30s)) {
    if (e->event == "session") {
      ended = e;
      break;
    }
  }
  ASSERT_TRUE(ended);
  EXPECT_EQ(str(data_of(*ended), "status"), "ended");
  EXPECT_EQ(str(data_of(*ended), "agent_id"), "acme-1");

  // Resuming after the event before acme's usage replays it (and only acme's).
  sse_client resumed(port, "/api/v1/stream?types=usage",
                     {{"X-API-Key", reader}, {"Last-Event-ID", ob->id}});
  ASSERT_EQ(resumed.status(), 200);
  auto again = resumed.next(30s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, u->id);
  EXPECT_EQ(again->data, u->data);
  // An id this run never gave out: reset.
  sse_client stale(port, "/api/v1/stream", {{"X-API-Key", reader}, {"Last-Event-ID", "5"}});
  auto reset = stale.next(30s);
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->event, "reset");

  // Stopping the server ends the open streams (it does not wait for them).
  p->send(SIGTERM);
  EXPECT_TRUE(team.wait_end(20s));
  EXPECT_TRUE(org.wait_end(20s));
  EXPECT_EQ(p->wait(30s), 0) << p->log();
}

// A batch's events reach the stream with their append, each once and in the order decided; a
// retried batch (every report a duplicate) adds nothing.
TEST(LiveStreamEndToEnd, ABatchReachesTheStreamOnceEachInOrder) {
  http_scenario s("live-stream-batch", admin_key);
  auto p = s.serve();
  ASSERT_TRUE(p);
  const auto port = p->http_port();
  http_client admin(port, admin_key);
  ASSERT_EQ(admin.post("/api/v1/teams", R"({"id": "acme", "timezone": "UTC"})").status, 201);
  ASSERT_EQ(admin.post("/api/v1/teams/acme/agents", R"({"id": "acme-1"})").status, 201);
  auto opened = admin.post("/api/v1/agents/acme-1/sessions", R"({"model": "m"})");
  ASSERT_EQ(opened.status, 201) << opened.body;
  const std::string session(opened.json().as_object().at("session_id").as_string());
  sse_client org(port, "/api/v1/stream?types=usage", {{"X-API-Key", admin_key}});
  ASSERT_EQ(org.status(), 200);

  std::string body = R"({"reports": [)";
  for (int i = 0; i < 50; ++i) {
    if (i) body += ',';
    body += R"({"session_id": ")" + session + R"(", "event_id": "b-)" + std::to_string(i) +
            R"(", "input_tokens": 1, "cost_usd": 0.00000000)" + std::to_string(1 + i % 9) + "}";
  }
  body += "]}";
  auto first = admin.post("/api/v1/usage:batch", body);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(first.json().as_object().at("accepted").as_int64(), 50) << first.body;
  std::vector<sse_event> seen;
  for (int i = 0; i < 50; ++i) {
    auto u = next_usage(org, seen);
    ASSERT_TRUE(u) << "usage event " << i;
    EXPECT_EQ(str(data_of(*u), "event_id"), "b-" + std::to_string(i));
    EXPECT_EQ(num(data_of(*u), "cost_nanos"), 1 + i % 9);
  }
  auto again = admin.post("/api/v1/usage:batch", body);
  ASSERT_EQ(again.status, 200) << again.body;
  ASSERT_EQ(again.json().as_object().at("duplicates").as_int64(), 50) << again.body;
  auto after = admin.post("/api/v1/sessions/" + session + "/usage",
                          R"({"event_id": "after", "input_tokens": 1, "cost_usd": 0.000000001})");
  ASSERT_EQ(after.status, 200) << after.body;
  auto next = next_usage(org, seen);
  ASSERT_TRUE(next);
  EXPECT_EQ(str(data_of(*next), "event_id"), "after");
}

}  // namespace
}  // namespace tally::test
