// The web dashboard end to end: the real `tally serve` on a real broker serves the built
// dashboard at / (--dashboard-dir), and dashboard/tests/e2e.mjs drives Debian's headless
// Chromium through it (playwright-core): figures against the API's, live updates from the
// stream, the kill switch, alerts and notifications, budget edits as admin, read-only as a
// reader. The reader key is created here through the API. Screenshots of every page are kept in
// <build>/e2e-artifacts/dashboard/. Skipped (with the reason) only when node or
// /usr/bin/chromium is missing; tests/run installs both and builds the dashboard first.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/tally_process.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string admin_key = "tly_e2e_dashboard_admin_0123456789abcdefgh";
const std::string team = "dash-e2e";

// The first executable `name` on PATH, or "".
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto p = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// The built dashboard: $TALLY_DASHBOARD_DIR, else <build>/dashboard, else <source>/build/dashboard
// (tests/run builds it there once for both build dirs).
std::string dashboard_dir() {
  if (const char* d = std::getenv("TALLY_DASHBOARD_DIR"); d && *d) return d;
  for (auto d : {std::string(TALLY_BINARY_DIR) + "/dashboard",
                 std::string(TALLY_SOURCE_DIR) + "/build/dashboard"}) {
    if (fs::exists(d + "/index.html")) return d;
  }
  return "";
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DashboardEndToEnd, HeadlessChromiumSeesTheApisFiguresLiveAndBudgetsByRole) {
  const std::string node = on_path("node");
  if (node.empty()) GTEST_SKIP() << "node is not installed (deploy/install-deps installs it)";
  if (::access("/usr/bin/chromium", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/chromium is missing (Debian package chromium; deploy/install-deps)";
  }
  const std::string src = TALLY_SOURCE_DIR;
  ASSERT_TRUE(fs::exists(src + "/dashboard/node_modules/playwright-core/package.json"))
      << "run `npm --prefix dashboard ci` first (tests/run does)";
  const std::string dash = dashboard_dir();
  ASSERT_FALSE(dash.empty()) << "no built dashboard: run `npm --prefix dashboard run build` "
                                "(tests/run and deploy/up do)";

  http_scenario s("dashboard", admin_key);
  // The example config's prices (real model names, so the insight rules have tiers to compare)
  // without its limits: the test sets its own.
  {
    std::ifstream in(std::string(TALLY_SOURCE_DIR) + "/deploy/config.example.yaml");
    std::ofstream cfg(s.dir + "/config.yaml");
    for (std::string line; std::getline(in, line) && line.rfind("limits:", 0) != 0;) {
      cfg << line << "\n";
    }
    ASSERT_TRUE(cfg.good());
  }
  s.o.config_path = s.dir + "/config.yaml";
  // A dashboard page makes a handful of reads per view; the test views many pages quickly.
  ::setenv("TALLY_RATE_LIMIT_RPM", "100000", 1);
  auto args = tally_args("serve", s.o);
  args.insert(args.end(), {"--dashboard-dir", dash});
  tally_process p(args, s.dir + "/tally.log");
  ASSERT_TRUE(p.wait_ready(60s)) << p.log();
  http_client c(p.http_port(), admin_key);
  ASSERT_TRUE(c.wait_ready(60s)) << p.log();

  // tally serves the dashboard itself: the page at /, its assets under /assets/.
  auto index = c.request("GET", "/", "", {{"X-API-Key", ""}});
  ASSERT_EQ(index.status, 200) << "tally serve does not serve the dashboard at /: " << index.body;
  EXPECT_NE(index.body.find("<div id=\"app\">"), std::string::npos) << index.body;
  auto at = index.body.find("/assets/");
  ASSERT_NE(at, std::string::npos) << index.body;
  auto asset = index.body.substr(at, index.body.find('"', at) - at);
  auto js = c.request("GET", asset, "", {{"X-API-Key", ""}});
  EXPECT_EQ(js.status, 200) << asset;

  // The team, and a reader key of it, through the API.
  auto t = c.post("/api/v1/teams",
                  R"({"id": ")" + team + R"(", "name": "E2E )" + team + R"(", "timezone": "UTC"})");
  ASSERT_EQ(t.status, 201) << t.body;
  auto k = c.post("/api/v1/auth/keys",
                  R"({"role": "reader", "team": ")" + team + R"(", "name": "e2e reader"})");
  ASSERT_EQ(k.status, 201) << k.body;
  const std::string reader_key(k.json().as_object().at("key").as_string());

  const std::string out = std::string(TALLY_BINARY_DIR) + "/e2e-artifacts/dashboard";
  fs::remove_all(out);
  fs::create_directories(out);
  const std::string log = out + "/e2e.log";
  const std::string cmd = "timeout 600 " + shell_quote(node) + " " +
                          shell_quote(src + "/dashboard/tests/e2e.mjs") + " --url " +
                          shell_quote("http://127.0.0.1:" + std::to_string(p.http_port())) +
                          " --admin-key " + shell_quote(admin_key) + " --reader-key " +
                          shell_quote(reader_key) + " --team " + shell_quote(team) + " --out " +
                          shell_quote(out) + " > " + shell_quote(log) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string output = read_file(log);
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0)
      << "e2e.mjs failed (screenshots in " << out << "):\n"
      << output << "\ntally log:\n"
      << p.log();
  EXPECT_NE(output.find("checks passed"), std::string::npos) << output;
  for (auto name : {"login", "overview", "team", "agent", "live", "alerts", "runlog", "budgets",
                    "budgets-reader", "budgets-refused"}) {
    EXPECT_TRUE(fs::exists(out + "/" + name + ".png")) << name;
  }
  EXPECT_EQ(p.terminate(30s), 0) << p.log();
}

}  // namespace
}  // namespace tally::test
