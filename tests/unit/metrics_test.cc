// The Prometheus text exposition, compared whole: HELP/TYPE lines, counters by labels,
// cumulative histogram buckets with _sum and _count, callback gauges and counters.
#include "api/metrics.h"

#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tally::api {
namespace {

using namespace std::chrono_literals;
using http_verb = boost::beast::http::verb;

// The histogram block of one route whose observations fall in the given cumulative counts.
std::string histogram(std::string_view route, const std::vector<int>& cumulative,
                      std::string_view sum) {
  std::string out;
  for (std::size_t i = 0; i <= latency_bucket_labels.size(); ++i) {
    out += "tally_http_request_duration_seconds_bucket{route=\"" + std::string(route) + "\",le=\"" +
           std::string(i < latency_bucket_labels.size() ? latency_bucket_labels[i] : "+Inf") +
           "\"} " + std::to_string(cumulative[i]) + "\n";
  }
  out += "tally_http_request_duration_seconds_sum{route=\"" + std::string(route) + "\"} " +
         std::string(sum) + "\n";
  out += "tally_http_request_duration_seconds_count{route=\"" + std::string(route) + "\"} " +
         std::to_string(cumulative.back()) + "\n";
  return out;
}

TEST(Metrics, empty_registry_renders_the_http_families) {
  metrics_registry reg;
  EXPECT_EQ(reg.render(),
            "# HELP tally_http_requests_total HTTP requests answered, by route pattern, method "
            "and status code.\n"
            "# TYPE tally_http_requests_total counter\n"
            "# HELP tally_http_request_duration_seconds Time from a parsed request to its "
            "answer, by route pattern.\n"
            "# TYPE tally_http_request_duration_seconds histogram\n");
}

TEST(Metrics, requests_and_latency_render_exactly) {
  metrics_registry reg;
  route_metrics& budget = reg.route("/api/v1/agents/{agent_id}/budget");
  route_metrics& health = reg.route("/healthz");
  EXPECT_EQ(&reg.route("/healthz"), &health);  // resolved once, same slot

  budget.observe(http_verb::get, 200, 40us);    // <= 50 µs
  budget.observe(http_verb::get, 200, 50us);    // on a bound: in that bucket
  budget.observe(http_verb::put, 400, 3ms);     // <= 5 ms
  budget.observe(http_verb::get, 404, 7s);      // beyond 5 s: +Inf only
  budget.observe(http_verb::get, 200, 1200us);  // <= 2.5 ms
  health.observe(http_verb::get, 200, 100us);

  // Buckets: 50µs 100µs 250µs 500µs 1ms 2.5ms 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2.5s 5s +Inf
  std::string expected =
      "# HELP tally_http_requests_total HTTP requests answered, by route pattern, method and "
      "status code.\n"
      "# TYPE tally_http_requests_total counter\n"
      "tally_http_requests_total{route=\"/api/v1/agents/{agent_id}/budget\",method=\"GET\","
      "status=\"200\"} 3\n"
      "tally_http_requests_total{route=\"/api/v1/agents/{agent_id}/budget\",method=\"GET\","
      "status=\"404\"} 1\n"
      "tally_http_requests_total{route=\"/api/v1/agents/{agent_id}/budget\",method=\"PUT\","
      "status=\"400\"} 1\n"
      "tally_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n"
      "# HELP tally_http_request_duration_seconds Time from a parsed request to its answer, by "
      "route pattern.\n"
      "# TYPE tally_http_request_duration_seconds histogram\n" +
      histogram("/api/v1/agents/{agent_id}/budget",
                {2, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5}, "7.00429") +
      histogram("/healthz", {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "0.0001");
  EXPECT_EQ(reg.render(), expected);
}

TEST(Metrics, callback_gauges_and_counters_group_by_family) {
  metrics_registry reg;
  double lag0 = 12, lag1 = 0.5;
  reg.add_gauge("tally_consumer_lag{partition=\"0\"}", "Records behind the high watermark.",
                [&] { return lag0; });
  reg.add_counter("tally_fold_events_total", "Events folded.", [] { return 1234567.0; });
  reg.add_gauge("tally_consumer_lag{partition=\"1\"}", "ignored: the first help wins",
                [&] { return lag1; });
  reg.add_gauge("tally_ready", "1 when the node serves.\nSecond line \\ backslash.",
                [] { return 1.0; });
  reg.add_gauge("tally_weird", "Special values.",
                [] { return -std::numeric_limits<double>::infinity(); });

  std::string text = reg.render();
  auto tail = text.substr(text.find("# HELP tally_consumer_lag"));
  EXPECT_EQ(tail,
            "# HELP tally_consumer_lag Records behind the high watermark.\n"
            "# TYPE tally_consumer_lag gauge\n"
            "tally_consumer_lag{partition=\"0\"} 12\n"
            "tally_consumer_lag{partition=\"1\"} 0.5\n"
            "# HELP tally_fold_events_total Events folded.\n"
            "# TYPE tally_fold_events_total counter\n"
            "tally_fold_events_total 1234567\n"
            "# HELP tally_ready 1 when the node serves.\\nSecond line \\\\ backslash.\n"
            "# TYPE tally_ready gauge\n"
            "tally_ready 1\n"
            "# HELP tally_weird Special values.\n"
            "# TYPE tally_weird gauge\n"
            "tally_weird -Inf\n");

  lag0 = 3;  // read at render time
  EXPECT_NE(reg.render().find("tally_consumer_lag{partition=\"0\"} 3\n"), std::string::npos);
}

TEST(Metrics, bad_names_and_type_clashes_are_refused) {
  metrics_registry reg;
  EXPECT_THROW(reg.add_gauge("1abc", "", [] { return 0.0; }), std::invalid_argument);
  EXPECT_THROW(reg.add_gauge("a-b", "", [] { return 0.0; }), std::invalid_argument);
  EXPECT_THROW(reg.add_gauge("abc{x=\"1\"", "", [] { return 0.0; }), std::invalid_argument);
  reg.add_gauge("abc", "", [] { return 0.0; });
  EXPECT_THROW(reg.add_counter("abc{x=\"1\"}", "", [] { return 0.0; }), std::invalid_argument);
}

TEST(Metrics, route_labels_are_escaped) {
  metrics_registry reg;
  reg.route("/a\"b\\c").observe(http_verb::get, 200, 1ms);
  EXPECT_NE(reg.render().find("tally_http_requests_total{route=\"/a\\\"b\\\\c\",method=\"GET\","
                              "status=\"200\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, many_status_codes_overflow_the_table_and_still_count) {
  metrics_registry reg;
  auto& r = reg.route("/x");
  for (unsigned status = 100; status < 300; ++status) r.observe(http_verb::post, status, 1us);
  r.observe(http_verb::post, 299, 1us);
  std::string text = reg.render();
  EXPECT_NE(text.find("{route=\"/x\",method=\"POST\",status=\"100\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("{route=\"/x\",method=\"POST\",status=\"299\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tally_http_request_duration_seconds_count{route=\"/x\"} 201\n"),
            std::string::npos);
}

TEST(Metrics, concurrent_observations_are_all_counted) {
  metrics_registry reg;
  auto& r = reg.route("/hot");
  constexpr int per_thread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        r.observe(t % 2 ? http_verb::get : http_verb::post, 200 + (i % 3), 10us);
      }
    });
  }
  std::string during = reg.render();  // concurrent render must be safe
  for (auto& th : threads) th.join();
  std::string text = reg.render();
  EXPECT_NE(text.find("tally_http_request_duration_seconds_count{route=\"/hot\"} 400000\n"),
            std::string::npos);
  EXPECT_NE(text.find("{route=\"/hot\",method=\"GET\",status=\"200\"} 66668\n"), std::string::npos);
  EXPECT_NE(text.find("{route=\"/hot\",method=\"POST\",status=\"202\"} 66666\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tally::api
