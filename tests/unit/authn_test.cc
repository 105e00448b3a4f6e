// Request authentication (API key or bearer token, 401s, per-key rate limits and 429s) and
// the authorization matrix of roles and team scopes.
#include "api/authn.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

namespace tally::api {
namespace {

constexpr std::int64_t t0_ms = 1'769'904'000'000;  // 2026-02-01T00:00:00Z

const std::string hs_secret = "0123456789abcdef0123456789abcdef-test-only";

jwt_config test_jwt_config() {
  jwt_config c;
  c.hs256_secret = hs_secret;
  return c;
}

http_request get(std::string_view target) {
  http_request req{http::verb::get, target, 11};
  return req;
}

boost::json::object body_of(const http_response& res) {
  return boost::json::parse(res.body()).as_object();
}

class AuthRequest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(keys.apply(make_key_record(agent_secret, role::agent, "eng", "ci", 1)));
    ASSERT_TRUE(keys.apply(make_key_record(admin_secret, role::admin, "", "root", 2)));
    api_key_record revoked = make_key_record(revoked_secret, role::reader, "eng", "old", 3);
    revoked.revoked = true;
    ASSERT_TRUE(keys.apply(revoked));
  }

  std::variant<authenticated, http_response> run(const http_request& req,
                                                 rate_class c = rate_class::general,
                                                 std::int64_t now_ms = t0_ms) {
    return authenticate_request(deps, req, c, now_ms);
  }

  // The 401 answer of a request; fails the test if the request got through.
  http_response refused(const http_request& req, http::status want = http::status::unauthorized) {
    auto out = run(req);
    EXPECT_TRUE(std::holds_alternative<http_response>(out));
    if (!std::holds_alternative<http_response>(out)) return http_response{};
    http_response res = std::get<http_response>(out);
    EXPECT_EQ(res.result(), want);
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
    if (want == http::status::unauthorized) {
      EXPECT_TRUE(res[http::field::www_authenticate].starts_with("Bearer"));
      EXPECT_EQ(body_of(res)["type"], "https://tally.dev/problems/unauthorized");
      EXPECT_EQ(body_of(res)["status"], 401);
    }
    return res;
  }

  principal accepted(const http_request& req, rate_class c = rate_class::general) {
    auto out = run(req, c);
    if (auto* res = std::get_if<http_response>(&out)) {
      ADD_FAILURE() << "refused: " << res->result_int() << " " << res->body();
      return {};
    }
    return std::get<authenticated>(out).who;
  }

  std::string agent_secret = generate_key_secret();
  std::string admin_secret = generate_key_secret();
  std::string revoked_secret = generate_key_secret();
  key_registry keys;
  jwt_verifier jwt{test_jwt_config()};
  rate_limiter limiter{rate_limits{}};
  auth_deps deps{&keys, &jwt, &limiter};
};

TEST_F(AuthRequest, no_credential_is_401) {
  http_response res = refused(get("/api/v1/teams"));
  EXPECT_EQ(res[http::field::www_authenticate], R"(Bearer realm="tally")");
}

TEST_F(AuthRequest, api_key) {
  http_request req = get("/api/v1/teams");
  req.set("X-API-Key", agent_secret);
  auto out = run(req);
  ASSERT_TRUE(std::holds_alternative<authenticated>(out));
  const authenticated& a = std::get<authenticated>(out);
  EXPECT_EQ(a.who.who, role::agent);
  EXPECT_EQ(a.who.team, "eng");
  EXPECT_EQ(a.who.key_id, key_id_for(agent_secret));
  EXPECT_TRUE(a.rate.allowed);
  EXPECT_EQ(a.rate.limit, 100);
  EXPECT_EQ(a.rate.remaining, 99);
}

TEST_F(AuthRequest, unknown_revoked_or_repeated_api_key_is_401) {
  http_request req = get("/api/v1/teams");
  req.set("X-API-Key", generate_key_secret());
  refused(req);
  req.set("X-API-Key", revoked_secret);
  refused(req);
  req.set("X-API-Key", "");
  refused(req);
  req.set("X-API-Key", agent_secret);
  req.insert("X-API-Key", admin_secret);
  refused(req);
}

TEST_F(AuthRequest, api_keys_can_be_switched_off) {
  deps.keys = nullptr;
  http_request req = get("/api/v1/teams");
  req.set("X-API-Key", agent_secret);
  refused(req);
}

TEST_F(AuthRequest, bearer_token) {
  std::string token =
      issue_hs256(jwt.config(), principal{role::reader, "ops", "key_r"}, t0_ms / 1000);
  for (std::string scheme : {"Bearer ", "bearer ", "BEARER   "}) {
    http_request req = get("/api/v1/teams");
    req.set(http::field::authorization, scheme + token);
    principal p = accepted(req);
    EXPECT_EQ(p.who, role::reader);
    EXPECT_EQ(p.team, "ops");
    EXPECT_EQ(p.key_id, "key_r");
  }
}

TEST_F(AuthRequest, bad_bearer_is_401_with_the_reason) {
  std::string token =
      issue_hs256(jwt.config(), principal{role::reader, "ops", "key_r"}, t0_ms / 1000);
  http_request req = get("/api/v1/teams");
  req.set(http::field::authorization, "Bearer " + token);
  auto out = authenticate_request(deps, req, rate_class::general, t0_ms + 3'600'000);
  ASSERT_TRUE(std::holds_alternative<http_response>(out));
  http_response& res = std::get<http_response>(out);
  EXPECT_EQ(res.result(), http::status::unauthorized);
  EXPECT_EQ(res[http::field::www_authenticate], R"(Bearer realm="tally", error="invalid_token")");
  EXPECT_EQ(body_of(res)["detail"], "token expired");

  for (std::string value :
       std::vector<std::string>{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearertoken",
                                "Bearer not.a.token", std::string("Token ") + token}) {
    req.set(http::field::authorization, value);
    refused(req);
  }
}

TEST_F(AuthRequest, api_key_wins_over_bearer) {
  std::string token =
      issue_hs256(jwt.config(), principal{role::reader, "ops", "key_r"}, t0_ms / 1000);
  http_request req = get("/api/v1/teams");
  req.set(http::field::authorization, "Bearer " + token);
  req.set("X-API-Key", admin_secret);
  EXPECT_TRUE(accepted(req).org_wide());
  req.set("X-API-Key", "tly_wrong");
  refused(req);  // no fallback to the token
}

TEST_F(AuthRequest, rate_limited_per_key_with_429) {
  http_request req = get("/api/v1/auth/token");
  req.set("X-API-Key", agent_secret);
  for (int i = 0; i < 10; ++i) {
    auto out = run(req, rate_class::auth);
    ASSERT_TRUE(std::holds_alternative<authenticated>(out)) << i;
    EXPECT_EQ(std::get<authenticated>(out).rate.remaining, 9 - i);
  }
  auto out = run(req, rate_class::auth);
  ASSERT_TRUE(std::holds_alternative<http_response>(out));
  http_response& res = std::get<http_response>(out);
  EXPECT_EQ(res.result(), http::status::too_many_requests);
  EXPECT_EQ(res[http::field::retry_after], "6");
  EXPECT_EQ(res["X-RateLimit-Limit"], "10");
  EXPECT_EQ(res["X-RateLimit-Remaining"], "0");
  EXPECT_EQ(res["X-RateLimit-Reset"], std::to_string(t0_ms / 1000 + 60));
  boost::json::object body = body_of(res);
  EXPECT_EQ(body["type"], "https://tally.dev/problems/rate-limited");
  EXPECT_EQ(body["status"], 429);
  EXPECT_EQ(body["retry_after_s"], 6);

  // The general class of the same key and the auth class of another key are untouched.
  EXPECT_TRUE(std::holds_alternative<authenticated>(run(req, rate_class::general)));
  http_request other = req;
  other.set("X-API-Key", admin_secret);
  EXPECT_TRUE(std::holds_alternative<authenticated>(run(other, rate_class::auth)));
  // Six seconds later one more request is allowed.
  EXPECT_TRUE(std::holds_alternative<authenticated>(run(req, rate_class::auth, t0_ms + 6'000)));
}

TEST_F(AuthRequest, a_key_and_its_tokens_share_one_allowance) {
  http_request by_key = get("/api/v1/teams");
  by_key.set("X-API-Key", agent_secret);
  std::optional<principal> p = keys.authenticate(agent_secret);
  ASSERT_TRUE(p);
  http_request by_token = get("/api/v1/teams");
  by_token.set(http::field::authorization, "Bearer " + issue_hs256(jwt.config(), *p, t0_ms / 1000));
  EXPECT_EQ(std::get<authenticated>(run(by_key)).rate.remaining, 99);
  EXPECT_EQ(std::get<authenticated>(run(by_token)).rate.remaining, 98);
  EXPECT_EQ(std::get<authenticated>(run(by_key)).rate.remaining, 97);
}

TEST_F(AuthRequest, without_a_limiter_nothing_is_counted) {
  deps.limiter = nullptr;
  http_request req = get("/api/v1/teams");
  req.set("X-API-Key", agent_secret);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(std::holds_alternative<authenticated>(run(req)));
}

// The whole matrix rendered as one string per principal: for each target team (the
// principal's own "eng", another "ops", and the org level ""), r/w/a when read/write/admin
// is allowed, '-' when refused.
std::string matrix_row(const principal& p) {
  std::string out;
  for (std::string_view team : {"eng", "ops", ""}) {
    out += team.empty() ? "org:" : std::string(team) + ":";
    for (auto [a, c] : {std::pair{access::read, 'r'}, {access::write, 'w'}, {access::admin, 'a'}}) {
      std::optional<http_response> res = authorize(p, team, a);
      if (res) {
        EXPECT_EQ(res->result(), http::status::forbidden);
        EXPECT_EQ(body_of(*res)["type"], "https://tally.dev/problems/forbidden");
      }
      out += res ? '-' : c;
    }
    out += team.empty() ? "" : " ";
  }
  return out;
}

TEST(AuthMatrix, every_role_and_scope) {
  EXPECT_EQ(matrix_row({role::admin, "", "k"}), "eng:rwa ops:rwa org:rwa");
  EXPECT_EQ(matrix_row({role::admin, "eng", "k"}), "eng:rwa ops:--- org:---");
  EXPECT_EQ(matrix_row({role::agent, "eng", "k"}), "eng:rw- ops:--- org:---");
  EXPECT_EQ(matrix_row({role::reader, "eng", "k"}), "eng:r-- ops:--- org:---");
  // Agents and readers are never org-wide: without a team they reach nothing.
  EXPECT_EQ(matrix_row({role::agent, "", "k"}), "eng:--- ops:--- org:---");
  EXPECT_EQ(matrix_row({role::reader, "", "k"}), "eng:--- ops:--- org:---");
  EXPECT_EQ(matrix_row({role::none, "eng", "k"}), "eng:--- ops:--- org:---");
  EXPECT_EQ(matrix_row({role::none, "", "k"}), "eng:--- ops:--- org:---");
}

TEST(AuthMatrix, forbidden_says_why) {
  std::optional<http_response> res = authorize({role::agent, "eng", "k"}, "ops", access::read);
  ASSERT_TRUE(res);
  boost::json::object body = body_of(*res);
  EXPECT_EQ(body["status"], 403);
  EXPECT_EQ(body["team"], "ops");
  EXPECT_EQ(body["required"], "read");
  EXPECT_EQ(body["detail"], "the credential is scoped to team eng, not team ops");
  res = authorize({role::reader, "eng", "k"}, "eng", access::write);
  ASSERT_TRUE(res);
  EXPECT_EQ(body_of(*res)["detail"], "role reader may not write");
}

}  // namespace
}  // namespace tally::api
