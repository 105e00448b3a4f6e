// The dashboard's static files (api/handlers_dashboard.cc) from a temporary build directory:
// content types and cache headers per file, the security headers, 404 for missing files, for
// names outside the whitelist and for every way out of the directory, and the "not built"
// answer; and through api_app::dispatch, served without a credential.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "api/app.h"
#include "tests/support/kafka_env.h"

namespace tally::api {
namespace {

namespace fs = std::filesystem;

class dashboard_files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = tally::test::make_temp_dir("tally-dashboard");
    fs::create_directories(fs::path(dir) / "dist" / "assets");
    write("dist/index.html", "<!doctype html><title>Tally</title>");
    write("dist/favicon.svg", "<svg/>");
    write("dist/assets/index-3f9c1a.js", "console.log(1)");
    write("dist/assets/index-3f9c1a.css", "body{}");
    write("dist/assets/index-3f9c1a.js.map", "{}");
    write("dist/assets/inter-latin.woff2", std::string("wOF2\0\1", 6));
    write("dist/.env", "SECRET=1");
    write("dist/notes.txt", "not served");
    write("secret.html", "outside the dashboard");
    fs::create_directories(fs::path(dir) / "dist" / "sub.js");  // a directory with a served name
    dist = dir + "/dist";
  }
  void TearDown() override { fs::remove_all(dir); }

  void write(const std::string& rel, const std::string& body) {
    std::ofstream(fs::path(dir) / rel, std::ios::binary) << body;
  }

  std::string dir, dist;
};

TEST_F(dashboard_files, content_types_and_cache_headers) {
  struct expect {
    std::string file, type, cache;
  };
  for (auto& e : std::vector<expect>{
           {"index.html", "text/html; charset=utf-8", "no-cache"},
           {"favicon.svg", "image/svg+xml", "no-cache"},
           {"assets/index-3f9c1a.js", "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable"},
           {"assets/index-3f9c1a.css", "text/css; charset=utf-8",
            "public, max-age=31536000, immutable"},
           {"assets/index-3f9c1a.js.map", "application/json",
            "public, max-age=31536000, immutable"},
           {"assets/inter-latin.woff2", "font/woff2", "public, max-age=31536000, immutable"},
       }) {
    auto res = dashboard_file(dist, e.file);
    ASSERT_EQ(res.result(), http::status::ok) << e.file << ": " << res.body();
    EXPECT_EQ(res[http::field::content_type], e.type) << e.file;
    EXPECT_EQ(res[http::field::cache_control], e.cache) << e.file;
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff") << e.file;
    const std::string csp(res["Content-Security-Policy"]);
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("img-src 'self' data:"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  }
  EXPECT_EQ(dashboard_file(dist, "assets/index-3f9c1a.js").body(), "console.log(1)");
  // Binary bytes come through whole (a NUL included).
  EXPECT_EQ(dashboard_file(dist, "assets/inter-latin.woff2").body(), std::string("wOF2\0\1", 6));
}

TEST_F(dashboard_files, nothing_outside_the_whitelist_or_the_directory) {
  for (std::string f :
       {"../secret.html", "assets/../../secret.html", "assets/../index.html", "..", ".env",
        "notes.txt", "assets/", "assets", "sub.js", "missing.js", "assets/missing.js",
        "index.html/", "a b.html", "assets/x/y.js", "%2e%2e", ".html", ""}) {
    auto res = dashboard_file(dist, f);
    EXPECT_EQ(res.result(), http::status::not_found) << "'" << f << "': " << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/problem+json") << f;
    EXPECT_EQ(res.body().find("outside the dashboard"), std::string::npos) << f;
  }
}

TEST_F(dashboard_files, an_unbuilt_dashboard_says_how_to_build_it) {
  for (std::string d : {dir + "/nowhere", std::string()}) {
    auto res = dashboard_file(d, "index.html");
    ASSERT_EQ(res.result(), http::status::not_found);
    EXPECT_NE(res.body().find("dashboard_not_built"), std::string::npos) << res.body();
    EXPECT_NE(res.body().find("npm --prefix dashboard ci && npm --prefix dashboard run build"),
              std::string::npos)
        << res.body();
  }
  // The directory without index.html: the same answer; its other files still serve.
  fs::remove(fs::path(dist) / "index.html");
  EXPECT_NE(dashboard_file(dist, "index.html").body().find("dashboard_not_built"),
            std::string::npos);
  EXPECT_EQ(dashboard_file(dist, "favicon.svg").result(), http::status::ok);
}

TEST_F(dashboard_files, served_by_the_app_without_a_credential) {
  metrics_registry metrics;
  api_deps deps;
  deps.dashboard_dir = dist;
  api_app app(deps, auth_deps{}, metrics);
  auto get = [&](std::string target) {
    std::optional<http_response> out;
    app.dispatch(http_request{http::verb::get, target, 11},
                 [&](http_response res) { out = std::move(res); });
    EXPECT_TRUE(out) << target;
    return out ? std::move(*out) : http_response{};
  };
  auto index = get("/");
  EXPECT_EQ(index.result(), http::status::ok);
  EXPECT_EQ(index.body(), "<!doctype html><title>Tally</title>");
  EXPECT_EQ(index[http::field::cache_control], "no-cache");
  EXPECT_EQ(get("/index.html").body(), index.body());
  EXPECT_EQ(get("/favicon.svg").result(), http::status::ok);
  auto js = get("/assets/index-3f9c1a.js");
  EXPECT_EQ(js.result(), http::status::ok);
  EXPECT_EQ(js[http::field::content_type], "text/javascript; charset=utf-8");
  // Percent-encoded ways out, and deeper paths, are refused.
  for (std::string t :
       {"/%2e%2e%2fsecret.html", "/assets/%2e%2e%2f%2e%2e%2fsecret.html",
        "/assets/..%2F..%2Fsecret.html", "/.env", "/notes.txt", "/assets/x/index-3f9c1a.js"}) {
    auto res = get(t);
    EXPECT_EQ(res.result(), http::status::not_found) << t << ": " << res.body();
    EXPECT_EQ(res.body().find("outside the dashboard"), std::string::npos) << t;
  }
  // The API routes keep their credential check.
  EXPECT_EQ(get("/api/v1/teams").result(), http::status::unauthorized);
}

}  // namespace
}  // namespace tally::api
