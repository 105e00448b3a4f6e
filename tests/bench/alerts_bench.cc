// Alert delivery benchmark (a program, not a test): how many alerts per second the real `tally
// serve` emits and delivers to a fast local webhook receiver, and the time from the
// acknowledgement of the report that crossed a threshold to the webhook's arrival (p50/p99).
//
//   tally_bench_alerts --brokers HOST:PORT [--rate 1000] [--seconds 20] [--teams 200]
//                      [--threads 8] [--data-dir DIR]
//
// Steps: fresh topics and group -> `tally serve` with a config allowing loopback targets ->
// one org-wide webhook subscription to an in-process receiver -> `teams` teams, each with a
// $100 day limit and thresholds at every percent 1..100 -> reports of $1 (each crosses exactly
// one threshold, so one alert) at `rate` per second over `threads` keep-alive connections, each
// report's acknowledgement time kept by its event id -> wait until every alert arrived (the
// webhook's data.crossing_event_id names the report) -> print the rates and the latency
// percentiles. The machine's cores are shared by the load, the server, the broker and the
// receiver: read the figures with that in mind.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "consumers/control.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_env.h"
#include "tests/support/tally_process.h"
#include "tests/support/webhook_receiver.h"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace json = boost::json;
using tally::test::http_client;

const std::string admin_key = "tly_bench_admin_key_0123456789abcdefghijkl";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Alert delivery benchmark"};
  std::string brokers;  // default: TALLY_TEST_BROKERS, else a broker of its own
  int rate = 1000, seconds = 20, teams = 200, threads = 8;
  std::string data_dir;
  app.add_option("--brokers", brokers, "bootstrap servers");
  app.add_option("--rate", rate, "reports (= alerts) per second");
  app.add_option("--seconds", seconds, "how long to send");
  app.add_option("--teams", teams, "teams (100 alerts each at most)");
  app.add_option("--threads", threads, "sending connections");
  app.add_option("--data-dir", data_dir, "where serve keeps its data (default: a temp dir)");
  CLI11_PARSE(app, argc, argv);
  if (brokers.empty()) brokers = tally::test::test_brokers();
  const int total = rate * seconds;
  if (total > teams * 100) {
    std::fprintf(stderr, "rate x seconds exceeds teams x 100 alerts; raise --teams\n");
    return 2;
  }
  if (data_dir.empty()) data_dir = tally::test::make_temp_dir("tally-bench-alerts");

  tally::test::tally_options o;
  o.brokers = brokers;
  o.data_dir = data_dir + "/data";
  o.topic_prefix = tally::test::unique_name("bench-alerts") + ".";
  o.group = tally::test::unique_name("bench-alerts-group");
  o.config_path = data_dir + "/config.yaml";
  std::ofstream(o.config_path) << "webhooks:\n  allow_private_targets: true\n";
  tally::topic_names topics;
  for (auto* n :
       {&topics.ledger, &topics.reports, &topics.control, &topics.alerts, &topics.alerts_dlq}) {
    *n = o.topic_prefix + *n;
  }
  tally::ensure_topics(brokers, topics, o.partitions);
  ::setenv("TALLY_ADMIN_KEY", admin_key.c_str(), 1);
  ::setenv("TALLY_INGEST_RATE_LIMIT_RPM", "1000000", 1);
  ::setenv("TALLY_RATE_LIMIT_RPM", "1000000", 1);
  tally::test::tally_process serve(tally::test::tally_args("serve", o), data_dir + "/serve.log");
  if (!serve.wait_ready(60s)) {
    std::fprintf(stderr, "serve not ready:\n%s\n", serve.log().c_str());
    return 1;
  }
  tally::test::webhook_receiver rx;
  http_client c(serve.http_port(), admin_key);
  auto sub = c.post("/api/v1/webhooks", R"({"url": ")" + rx.url("/bench") + R"("})");
  if (sub.status != 201) {
    std::fprintf(stderr, "subscription: %d %s\n", sub.status, sub.body.c_str());
    return 1;
  }
  rx.set_secret("/bench", std::string(sub.json().as_object().at("secret").as_string()));

  // Thresholds at every percent (info), $100 a day: a $1 report crosses one.
  std::string thresholds = R"({"thresholds": [)";
  for (int pct = 1; pct <= 100; ++pct) {
    thresholds += (pct > 1 ? "," : "") + std::string(R"({"percent": )") + std::to_string(pct) +
                  R"(, "level": "info", "message": "{percent}%"})";
  }
  thresholds += "]}";
  if (auto r = c.request("PUT", "/api/v1/alerts/config", thresholds); r.status != 200) {
    std::fprintf(stderr, "thresholds: %d %s\n", r.status, r.body.c_str());
    return 1;
  }
  const int used_teams = (total + 99) / 100;
  std::vector<std::string> sessions(used_teams);
  std::string projects = R"({"projects": {)";
  for (int t = 0; t < used_teams; ++t) {
    const std::string id = "bt" + std::to_string(t);
    c.post("/api/v1/teams", R"({"id": ")" + id + R"("})");
    c.post("/api/v1/teams/" + id + "/agents", R"({"id": "ba)" + std::to_string(t) + R"("})");
    projects += (t ? "," : "") + ("\"" + id + "\"") + R"(: {"limits": {"max_cost_per_day": 100}})";
  }
  projects += "}}";
  if (auto r = c.request("PUT", "/api/v1/limits", projects); r.status != 200) {
    std::fprintf(stderr, "limits: %d %s\n", r.status, r.body.c_str());
    return 1;
  }
  for (int t = 0; t < used_teams; ++t) {
    auto s = c.post("/api/v1/agents/ba" + std::to_string(t) + "/sessions", R"({"model": "m"})");
    if (s.status != 201) {
      std::fprintf(stderr, "session: %d %s\n", s.status, s.body.c_str());
      return 1;
    }
    sessions[t] = std::string(s.json().as_object().at("session_id").as_string());
  }

  // Send: report n goes to team n / 100 ... interleaved so every team advances together.
  std::mutex mu;
  std::map<std::string, steady::time_point> acked;
  std::atomic<int> next{0}, refused{0};
  const auto start = steady::now();
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL / rate);
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      http_client hc(serve.http_port(), admin_key);
      for (;;) {
        const int n = next.fetch_add(1);
        if (n >= total) return;
        std::this_thread::sleep_until(start + interval * n);  // the schedule, not a wait
        const int team = n % used_teams;
        const std::string id = "b-" + std::to_string(n);
        auto r = hc.post("/api/v1/sessions/" + sessions[team] + "/usage",
                         R"({"event_id": ")" + id + R"(", "cost_usd": 1})");
        const auto at = steady::now();
        if (r.status != 200) {
          refused.fetch_add(1);
          continue;
        }
        std::lock_guard lock(mu);
        acked[id] = at;
      }
    });
  }
  for (auto& t : workers) t.join();
  const auto sent_at = steady::now();
  const std::size_t want = acked.size();
  rx.wait_for([&] { return rx.requests().size() >= want; }, 120s);
  const auto done_at = steady::now();

  std::vector<double> latency_ms;
  steady::time_point first_arrival = done_at, last_arrival = start;
  std::map<std::string, int> per_id;
  int bad_signatures = 0;
  for (auto& r : rx.requests()) {
    if (!r.signature_ok) ++bad_signatures;
    if (++per_id[r.webhook_id] > 1) continue;
    auto v = json::parse(r.body);
    auto crossing = std::string(v.at("data").at("crossing_event_id").as_string());
    auto it = acked.find(crossing);
    if (it == acked.end()) continue;
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(r.arrived_steady - it->second).count());
    first_arrival = std::min(first_arrival, r.arrived_steady);
    last_arrival = std::max(last_arrival, r.arrived_steady);
  }
  const double send_s = std::chrono::duration<double>(sent_at - start).count();
  const double span_s = std::chrono::duration<double>(last_arrival - start).count();
  std::printf("reports acknowledged: %zu in %.2f s (%.0f/s), refused %d\n", want, send_s,
              static_cast<double>(want) / send_s, refused.load());
  std::printf(
      "alerts delivered: %zu distinct (%zu requests), %.0f/s from the first report to the "
      "last arrival; bad signatures %d\n",
      latency_ms.size(), rx.requests().size(), static_cast<double>(latency_ms.size()) / span_s,
      bad_signatures);
  std::printf("ack -> webhook arrival: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              percentile(latency_ms, 0.50), percentile(latency_ms, 0.99),
              percentile(latency_ms, 1.0));
  (void)first_arrival;
  serve.terminate(30s);
  std::filesystem::remove_all(data_dir);
  return latency_ms.size() == want ? 0 : 1;
}
