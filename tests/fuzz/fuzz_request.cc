// libFuzzer target: bytes -> an HTTP request -> api_app::dispatch over an in-memory ledger with
// two seeded teams and valid keys, so the router, authentication, JSON guard, body readers and
// handlers all run. Every input must get exactly one answer with a valid status, and every
// answer but /metrics and the OpenAPI text must be JSON (a problem body for 4xx/5xx).
//
// Input: line 1 = "<METHOD> <target>", then header lines "Name: value" up to an empty line,
// then the body. A first header line "K: <digit>" picks the credential (0 none, 1 org admin,
// 2 acme admin, 3 acme agent, 4 acme reader, 5 beta agent); default: the org admin.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "api/app.h"
#include "tests/support/memory_ledger.h"

namespace {

using namespace tally;
using namespace tally::api;

constexpr time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_request: %s\n", what);
    std::abort();
  }
}

// A fresh node per input: an input's outcome never depends on the inputs before it.
struct world {
  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  key_registry keys;
  jwt_config jwt_conf = [] {
    jwt_config c;
    c.hs256_secret = "0123456789abcdef0123456789abcdef-fuzz-only";
    return c;
  }();
  jwt_verifier jwt{jwt_conf};
  metrics_registry metrics;
  std::unique_ptr<api_app> app;
  std::string secrets[6];

  world() {
    api_deps deps;
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [] { return now_ms; };
    deps.keys = &keys;
    deps.jwt = &jwt_conf;
    deps.publish_key = [](const api_key_record&, std::function<void(bool)> done) { done(true); };
    app = std::make_unique<api_app>(deps, auth_deps{&keys, &jwt, nullptr}, metrics);
    // Fixed secrets: a corpus entry may carry one as a header.
    const std::pair<role, const char*> who[] = {{role::admin, ""},
                                                {role::admin, "acme"},
                                                {role::agent, "acme"},
                                                {role::reader, "acme"},
                                                {role::agent, "beta"}};
    for (int i = 0; i < 5; ++i) {
      secrets[i + 1] = "tly_fuzz" + std::string(40, static_cast<char>('a' + i));
      keys.apply(make_key_record(secrets[i + 1], who[i].first, who[i].second, "k", now_ms));
    }
    seed();
  }

  http_response send(http_request req) {
    std::optional<http_response> out;
    int answers = 0;
    app->dispatch(std::move(req), [&](http_response res) {
      ++answers;
      out = std::move(res);
    });
    ledger.deliver();
    check(answers == 1 && out, "not exactly one answer");
    return std::move(*out);
  }

  void seed() {
    auto post = [&](std::string target, std::string body) {
      http_request req{http::verb::post, target, 11};
      req.set("X-API-Key", secrets[1]);
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
      req.prepare_payload();
      send(std::move(req));
    };
    post("/api/v1/teams", R"({"id": "acme", "timezone": "Europe/Paris"})");
    post("/api/v1/teams", R"({"id": "beta"})");
    post("/api/v1/teams/acme/agents", R"({"id": "eng-1"})");
    post("/api/v1/teams/beta/agents", R"({"id": "b-1"})");
    post("/api/v1/teams/acme/tasks", R"({"id": "594", "title": "T", "tags": ["budget:0.50"]})");
    post("/api/v1/agents/eng-1/sessions", R"({"session_id": "s-1", "model": "m"})");
    post("/api/v1/sessions/s-1/usage", R"({"input_tokens": 10, "cost_usd": 0.01})");
  }
};

std::string_view next_line(std::string_view& in) {
  auto nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

void check_answer(const http_response& res, std::string_view target) {
  const unsigned status = res.result_int();
  check(status >= 200 && status <= 599, "status out of range");
  if (target.starts_with("/metrics") || target.starts_with("/api/v1/openapi.yaml")) {
    if (status == 200) return;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body(), ec);
  check(!ec, "the answer is not JSON");
  if (status >= 400) {
    check(res[http::field::content_type] == "application/problem+json", "no problem media type");
    check(v.is_object() && v.as_object().contains("status") &&
              v.as_object().at("status").is_int64() &&
              v.as_object().at("status").as_int64() == static_cast<std::int64_t>(status),
          "the problem body does not carry the status");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return -1;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view first = next_line(in);
  auto sp = first.find(' ');
  if (sp == std::string_view::npos) return -1;
  const http::verb method = http::string_to_verb(first.substr(0, sp));
  if (method == http::verb::unknown) return -1;
  std::string_view target = first.substr(sp + 1);
  if (target.empty()) return -1;

  http_request req{method, boost::beast::string_view(target.data(), target.size()), 11};
  int credential = 1;
  for (bool first_header = true;; first_header = false) {
    std::string_view line = next_line(in);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (first_header && name == "K" && value.size() == 1 && value[0] >= '0' && value[0] <= '5') {
      credential = value[0] - '0';
      continue;
    }
    // Beast refuses header names and values it cannot send; so does the server's parser.
    bool printable = true;
    for (char c : line) printable = printable && (c == '\t' || (c >= 0x20 && c < 0x7f));
    if (!printable) continue;
    req.insert(boost::beast::string_view(name.data(), name.size()),
               boost::beast::string_view(value.data(), value.size()));
  }
  req.body() = std::string(in);
  // Content-Length set directly: prepare_payload() throws for a TRACE with a body, which the
  // server's parser reads like any other request.
  if (!req.body().empty() && req.count(http::field::content_length) == 0) {
    req.content_length(req.body().size());
  }

  world w;
  if (credential > 0 && req.count("X-API-Key") == 0 && req.count(http::field::authorization) == 0) {
    req.set("X-API-Key", w.secrets[credential]);
  }
  const std::string t(target);
  check_answer(w.send(std::move(req)), t);
  return 0;
}
