// Prometheus text exposition (format 0.0.4) for /metrics: per-route request counters and
// latency histograms, plus counters and gauges read by callback from other components' probes.
// Thread-safety: everything is safe from any thread. The hot path is route_metrics::observe()
// on a slot resolved once per route: relaxed atomics, no lock, no allocation (after the first
// request of a (method, status) pair). render() takes the registry lock and runs the callbacks
// under it: a callback must not call back into the registry.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace tally::api {

// Upper bounds of the latency histogram buckets, in seconds as Prometheus prints them
// (50 µs .. 5 s), and the same in nanoseconds.
inline constexpr std::array<std::string_view, 16> latency_bucket_labels = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025",   "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5"};
inline constexpr std::array<std::int64_t, 16> latency_bucket_ns = {
    50'000,      100'000,       250'000,       500'000,      1'000'000,   2'500'000,
    5'000'000,   10'000'000,    25'000'000,    50'000'000,   100'000'000, 250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000};

// One route's counters: tally_http_requests_total{route,method,status} and
// tally_http_request_duration_seconds{route}.
class route_metrics {
 public:
  explicit route_metrics(std::string route) : route_(std::move(route)) {}
  route_metrics(const route_metrics&) = delete;
  route_metrics& operator=(const route_metrics&) = delete;

  // One answered request: its method, status code and the time from parsed request to answer.
  void observe(boost::beast::http::verb method, unsigned status,
               std::chrono::nanoseconds latency) noexcept;

  const std::string& route() const { return route_; }

 private:
  friend class metrics_registry;
  // (method, status) pairs in an open-addressed table; key 0 is an empty slot.
  static constexpr std::size_t table_size = 64;
  struct counter_slot {
    std::atomic<std::uint32_t> key{0};
    std::atomic<std::uint64_t> count{0};
  };
  std::string route_;
  std::array<counter_slot, table_size> counters_;
  mutable std::mutex
      overflow_mu_;  // more than table_size distinct pairs: a locked map (never in practice)
  std::map<std::uint32_t, std::uint64_t> overflow_;
  std::array<std::atomic<std::uint64_t>, latency_bucket_ns.size() + 1> buckets_{};  // + "+Inf"
  std::atomic<std::uint64_t> sum_ns_{0};
};

class metrics_registry {
 public:
  metrics_registry() = default;
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  // The slot of a route pattern, created on first use; the reference lives as long as the
  // registry. Resolve it once per route (e.g. by route id) and keep it.
  route_metrics& route(std::string_view pattern);

  // A value read at render time. `name` is a metric name, optionally with labels
  // ('tally_consumer_lag{partition="3"}'); series of one name share one HELP/TYPE block.
  // Throws std::invalid_argument on a malformed name or a name registered with the other type.
  void add_gauge(std::string name, std::string help, std::function<double()> read);
  void add_counter(std::string name, std::string help, std::function<double()> read);

  // The whole exposition, "text/plain; version=0.0.4".
  std::string render() const;

 private:
  struct family {
    std::string name, help, type;
    std::vector<std::pair<std::string, std::function<double()>>> series;  // full name -> read
  };
  void add_series(std::string name, std::string help, const char* type,
                  std::function<double()> read);

  mutable std::mutex mu_;
  std::deque<route_metrics> routes_;  // a deque: slots never move
  std::vector<family> families_;
};

// The content type of render()'s text.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tally::api
