// The dashboard's side of `tally serve` end to end, on a real broker over real sockets: the built
// files served without a credential with their headers (and nothing outside the directory), the
// run log, an optimisation insight priced from config.yaml's table, and its dismissal surviving
// kill -9 and `tally replay`.
#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/tally_process.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string admin_key = "tly_e2e_admin_key_0123456789abcdefghij";

constexpr const char* config = R"(pricing:
  versions:
    - id: "e2e"
      effective_from: "2025-01-01"
      models:
        haiku: {input_per_million: 0.25, output_per_million: 1.25}
        sonnet: {input_per_million: 3.00, output_per_million: 15.00}
        opus: {input_per_million: 15.00, output_per_million: 75.00}
)";

TEST(DashboardApiEndToEnd, FilesRunLogInsightAndADismissalThatSurvivesKillNineAndReplay) {
  http_scenario s("dashboard", admin_key);
  const fs::path dist = fs::path(s.dir) / "dist";
  fs::create_directories(dist / "assets");
  std::ofstream(dist / "index.html") << "<!doctype html><title>Tally</title>";
  std::ofstream(dist / "assets" / "index-9f8e7d.js") << "export{}";
  std::ofstream(fs::path(s.dir) / "secret.html") << "outside";
  std::ofstream(fs::path(s.dir) / "config.yaml") << config;
  s.o.config_path = s.dir + "/config.yaml";
  s.o.dashboard_dir = dist.string();
  auto p = s.serve();
  ASSERT_TRUE(p);

  {
    http_client open(p->http_port());  // no credential
    auto index = open.get("/");
    ASSERT_EQ(index.status, 200) << index.body;
    EXPECT_EQ(index.body, "<!doctype html><title>Tally</title>");
    EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(index.header("Cache-Control"), "no-cache");
    EXPECT_EQ(index.header("X-Content-Type-Options"), "nosniff");
    EXPECT_NE(index.header("Content-Security-Policy").find("default-src 'self'"),
              std::string::npos);
    auto js = open.get("/assets/index-9f8e7d.js");
    ASSERT_EQ(js.status, 200);
    EXPECT_EQ(js.header("Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(js.header("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(open.get("/assets/..%2F..%2Fsecret.html").status, 404);
    EXPECT_EQ(open.get("/%2e%2e%2fsecret.html").status, 404);
    EXPECT_EQ(open.get("/api/v1/sessions?team_id=acme").status, 401);
  }

  const std::string id = "model_downgrade:eng-1:opus";
  {
    http_client c(p->http_port(), admin_key);
    ASSERT_EQ(c.post("/api/v1/teams", R"({"id": "acme", "timezone": "UTC"})").status, 201);
    ASSERT_EQ(c.post("/api/v1/teams/acme/agents", R"({"id": "eng-1"})").status, 201);
    // Five runs of 1 500 + 500 tokens on opus, priced by the table: $0.06 each.
    for (int i = 0; i < 5; ++i) {
      auto o = c.post("/api/v1/agents/eng-1/sessions", R"({"model": "opus"})");
      ASSERT_EQ(o.status, 201) << o.body;
      const std::string sid(o.json().as_object().at("session_id").as_string());
      auto u = c.post("/api/v1/sessions/" + sid + "/usage",
                      R"({"input_tokens": 1500, "output_tokens": 500})");
      ASSERT_EQ(u.status, 200) << u.body;
      ASSERT_EQ(c.post("/api/v1/sessions/" + sid + "/end", "{}").status, 200);
    }
    auto log = c.get("/api/v1/sessions?team_id=acme");
    ASSERT_EQ(log.status, 200) << log.body;
    const auto page = log.json();
    auto& runs = page.as_object().at("sessions").as_array();
    ASSERT_EQ(runs.size(), 5u);
    for (auto& r : runs) {
      EXPECT_EQ(r.at("status").as_string(), "completed");
      EXPECT_EQ(r.at("cost_nanos").as_int64(), 60'000'000);
      EXPECT_EQ(r.at("total_tokens").as_int64(), 2000);
    }

    auto in = c.get("/api/v1/insights?team_id=acme");
    ASSERT_EQ(in.status, 200) << in.body;
    auto o = in.json().as_object();
    ASSERT_EQ(o.at("count").as_int64(), 1) << in.body;
    auto& i = o.at("insights").at(0).as_object();
    EXPECT_EQ(i.at("id").as_string(), id);
    EXPECT_EQ(i.at("suggested_model").as_string(), "sonnet");
    EXPECT_EQ(i.at("saving_so_far_nanos").as_int64(), 240'000'000);  // $0.30 - $0.06
    const std::int64_t day = o.at("day_of_month").as_int64();
    const std::int64_t days = o.at("days_in_month").as_int64();
    EXPECT_EQ(i.at("monthly_saving_nanos").as_int64(), 240'000'000 * days / day);
    const auto today = std::chrono::year_month_day{
        std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
    EXPECT_EQ(day, static_cast<unsigned>(today.day()));

    auto d = c.post("/api/v1/insights/" + id + "/dismiss?team_id=acme", "");
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_TRUE(d.json().as_object().at("dismissed").as_bool());
  }

  auto dismissed_after = [&](const std::string& when) {
    http_client c(p->http_port(), admin_key);
    auto hidden = c.get("/api/v1/insights?team_id=acme");
    ASSERT_EQ(hidden.status, 200) << hidden.body;
    EXPECT_EQ(hidden.json().as_object().at("count").as_int64(), 0) << when << hidden.body;
    EXPECT_EQ(hidden.json().as_object().at("dismissed_count").as_int64(), 1) << when;
    auto shown = c.get("/api/v1/insights?team_id=acme&include_dismissed=true");
    ASSERT_EQ(shown.json().as_object().at("count").as_int64(), 1) << when << shown.body;
    EXPECT_TRUE(shown.json().as_object().at("insights").at(0).at("dismissed").as_bool()) << when;
  };
  ASSERT_EQ(p->kill_now(), 128 + SIGKILL);
  p = s.serve();
  ASSERT_TRUE(p);
  dismissed_after("after kill -9: ");
  ASSERT_EQ(p->terminate(30s), 0) << p->log();
  ASSERT_EQ(run_tally(tally_args("replay", s.o), s.dir + "/replay.log", 120s), 0);
  p = s.serve();
  ASSERT_TRUE(p);
  dismissed_after("after replay: ");
}

}  // namespace
}  // namespace tally::test
