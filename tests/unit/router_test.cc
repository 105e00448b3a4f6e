// The route table: literal and parameter segments, percent-decoding, the query, and the
// 400/404/405 answers with their Allow header.
#include "api/router.h"

#include <stdexcept>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace tally::api {
namespace {

route_handler noop() {
  return [](request_ctx&, respond_fn) {};
}

std::string problem_type(const http_response& res) {
  return std::string(boost::json::parse(res.body()).at("type").as_string());
}

router sample() {
  router r;
  r.add(http::verb::get, "/", {.rate_class = "general", .open = true}, noop());
  r.add(http::verb::get, "/healthz", {.open = true}, noop());
  r.add(http::verb::get, "/api/v1/agents/{agent_id}/budget", noop());
  r.add(http::verb::put, "/api/v1/agents/{agent_id}/budget", noop());
  r.add(http::verb::get, "/api/v1/agents/{agent_id}/sessions", noop());
  r.add(http::verb::post, "/api/v1/usage", {.rate_class = "ingest"}, noop());
  r.add(http::verb::post, "/api/v1/usage:batch", {.rate_class = "ingest"}, noop());
  r.add(http::verb::get, "/api/v1/usage/summary", noop());
  r.add(http::verb::get, "/api/v1/sessions/{session_id}", noop());
  r.add(http::verb::post, "/api/v1/sessions/start", noop());
  r.add(http::verb::post, "/api/v1/auth/token", {.rate_class = "auth"}, noop());
  return r;
}

TEST(Router, literal_route_and_its_metadata) {
  auto r = sample();
  auto m = r.match(http::verb::get, "/healthz");
  ASSERT_TRUE(m);
  EXPECT_EQ(m.matched->pattern, "/healthz");
  EXPECT_TRUE(m.matched->meta.open);
  EXPECT_EQ(m.matched->meta.rate_class, "general");
  EXPECT_TRUE(m.path.items.empty());
  EXPECT_FALSE(m.error);

  auto root = r.match(http::verb::get, "/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root.matched->pattern, "/");
}

TEST(Router, path_parameter_is_bound_and_percent_decoded) {
  auto r = sample();
  auto m = r.match(http::verb::get, "/api/v1/agents/eng%2D1%20x/budget");
  ASSERT_TRUE(m);
  EXPECT_EQ(m.matched->pattern, "/api/v1/agents/{agent_id}/budget");
  EXPECT_FALSE(m.matched->meta.open);
  EXPECT_EQ(m.path.get("agent_id"), "eng-1 x");

  auto put = r.match(http::verb::put, "/api/v1/agents/a/budget");
  ASSERT_TRUE(put);
  EXPECT_EQ(put.matched->method, http::verb::put);
  EXPECT_NE(put.matched, m.matched);
}

TEST(Router, a_colon_in_a_segment_is_literal) {
  auto r = sample();
  auto batch = r.match(http::verb::post, "/api/v1/usage:batch");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch.matched->pattern, "/api/v1/usage:batch");
  EXPECT_EQ(batch.matched->meta.rate_class, "ingest");
  auto single = r.match(http::verb::post, "/api/v1/usage");
  ASSERT_TRUE(single);
  EXPECT_EQ(single.matched->pattern, "/api/v1/usage");
  // An escaped colon is the same segment.
  auto escaped = r.match(http::verb::post, "/api/v1/usage%3Abatch");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped.matched->pattern, "/api/v1/usage:batch");
  EXPECT_FALSE(r.match(http::verb::post, "/api/v1/usage:other"));
}

TEST(Router, literal_wins_over_parameter) {
  auto r = sample();
  auto start = r.match(http::verb::post, "/api/v1/sessions/start");
  ASSERT_TRUE(start);
  EXPECT_EQ(start.matched->pattern, "/api/v1/sessions/start");
  auto get = r.match(http::verb::get, "/api/v1/sessions/start");  // GET: only {session_id}
  ASSERT_TRUE(get);
  EXPECT_EQ(get.matched->pattern, "/api/v1/sessions/{session_id}");
  EXPECT_EQ(get.path.get("session_id"), "start");
}

TEST(Router, backtracks_from_a_literal_dead_end) {
  router r;
  r.add(http::verb::get, "/a/b/d", noop());
  r.add(http::verb::get, "/a/{x}/c", noop());
  auto m = r.match(http::verb::get, "/a/b/c");
  ASSERT_TRUE(m);
  EXPECT_EQ(m.matched->pattern, "/a/{x}/c");
  EXPECT_EQ(m.path.get("x"), "b");
}

TEST(Router, query_is_parsed_and_decoded_in_order) {
  auto r = sample();
  auto m = r.match(http::verb::get, "/api/v1/usage/summary?period=month&team=my%20arpg&q=a+b&flag");
  ASSERT_TRUE(m);
  ASSERT_EQ(m.query.items.size(), 4u);
  EXPECT_EQ(m.query.get("period"), "month");
  EXPECT_EQ(m.query.get("team"), "my arpg");
  EXPECT_EQ(m.query.get("q"), "a b");
  EXPECT_EQ(m.query.get("flag"), "");
  EXPECT_EQ(m.query.items[0].first, "period");
  EXPECT_FALSE(m.query.get("missing"));
}

TEST(Router, unknown_path_is_404) {
  auto r = sample();
  for (auto target : {"/nope", "/api/v1/agents", "/api/v1/agents/a/budget/extra",
                      "/api/v1/agents//budget", "/healthz/", "/a/b/c/d/e/f/g/h/i/j/k/l"}) {
    auto m = r.match(http::verb::get, target);
    ASSERT_FALSE(m) << target;
    ASSERT_TRUE(m.error);
    EXPECT_EQ(m.error->result(), http::status::not_found) << target;
    EXPECT_EQ(problem_type(*m.error), "https://tally.dev/problems/not-found");
    EXPECT_EQ((*m.error)[http::field::content_type], "application/problem+json");
  }
}

TEST(Router, wrong_method_is_405_with_allow) {
  auto r = sample();
  auto m = r.match(http::verb::delete_, "/api/v1/agents/eng-1/budget");
  ASSERT_FALSE(m);
  ASSERT_TRUE(m.error);
  EXPECT_EQ(m.error->result(), http::status::method_not_allowed);
  EXPECT_EQ((*m.error)[http::field::allow], "GET, PUT");
  EXPECT_EQ(problem_type(*m.error), "https://tally.dev/problems/method-not-allowed");
}

TEST(Router, malformed_target_is_400) {
  auto r = sample();
  for (auto target : {"/bad%zzescape", "no-slash", "/sp ace", "http://host/healthz", ""}) {
    auto m = r.match(http::verb::get, target);
    ASSERT_FALSE(m) << target;
    ASSERT_TRUE(m.error);
    EXPECT_EQ(m.error->result(), http::status::bad_request) << target;
    EXPECT_EQ(problem_type(*m.error), "https://tally.dev/problems/malformed-request");
  }
}

TEST(Router, bad_and_duplicate_patterns_are_refused) {
  router r;
  r.add(http::verb::get, "/a/{x}", noop());
  EXPECT_THROW(r.add(http::verb::get, "/a/{y}", noop()), std::invalid_argument);
  EXPECT_NO_THROW(r.add(http::verb::post, "/a/{y}", noop()));
  EXPECT_THROW(r.add(http::verb::get, "no-slash", noop()), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/a/x{y}", noop()), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/a/{}", noop()), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/a/{b}}", noop()), std::invalid_argument);
}

TEST(Router, parameter_names_may_differ_between_methods) {
  router r;
  r.add(http::verb::get, "/teams/{team_id}", noop());
  r.add(http::verb::put, "/teams/{id}", noop());
  EXPECT_EQ(r.match(http::verb::get, "/teams/t1").path.get("team_id"), "t1");
  EXPECT_EQ(r.match(http::verb::put, "/teams/t1").path.get("id"), "t1");
}

TEST(Router, lists_every_route_in_order_with_dense_ids) {
  auto r = sample();
  auto all = r.routes();
  ASSERT_EQ(all.size(), 11u);
  EXPECT_EQ(all[0].pattern, "/");
  EXPECT_EQ(all[3].method, http::verb::put);
  EXPECT_EQ(all[3].pattern, "/api/v1/agents/{agent_id}/budget");
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, i);
  EXPECT_EQ(all[3].param_names, std::vector<std::string>{"agent_id"});
}

TEST(Router, handler_is_the_one_added) {
  router r;
  int called = 0;
  r.add(http::verb::get, "/x/{id}", [&](request_ctx& ctx, respond_fn) {
    ++called;
    EXPECT_EQ(ctx.path.get("id"), "7");
  });
  auto m = r.match(http::verb::get, "/x/7");
  ASSERT_TRUE(m);
  request_ctx ctx{.route = m.matched->pattern, .path = m.path, .query = m.query};
  m.matched->handler(ctx, [](http_response) {});
  EXPECT_EQ(called, 1);
}

}  // namespace
}  // namespace tally::api
