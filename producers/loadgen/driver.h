// The measured run of tally-loadgen: `connections` Beast HTTP/1.1 keep-alive clients spread
// over `threads` io_contexts (one thread each), every client with one request in flight
// (closed loop). With a target rate the requests follow a global schedule instead (request i
// is due at start + i / rate) and a request's latency counts from when it was due, so time
// spent waiting for a free connection is included (no coordinated omission).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "producers/loadgen/histogram.h"

namespace tally::loadgen {

using steady = std::chrono::steady_clock;

enum class mode { budget, usage, batch, mixed };
enum class op { budget, usage, batch };
constexpr std::size_t op_count = 3;
const char* to_string(mode m);
const char* to_string(op o);

struct run_options {
  mode m = mode::budget;
  int connections = 32;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 1;  // requests completing in the warm-up are not recorded
  double rate = 0;      // requests/s; 0: closed loop, as fast as possible
  int batch_size = 100;
  std::chrono::milliseconds timeout{10000};  // per request (connect, write + read)
  double drain_s = 2;  // after the window: how long requests in flight may finish
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host_header;
  std::string base_path;
  std::string api_key;
  std::vector<std::string> agents;
  std::vector<std::string> sessions;  // one per agent (usage/batch/mixed)
  std::string run_id;                 // prefix of the event ids sent
  // Event ids as a fleet using random UUIDs sends them (32 hex digits, unique per run) rather
  // than run_id.connection.sequence: each dedup marker lands anywhere in the store's index.
  bool random_event_ids = false;
  std::uint64_t id_seed = 0;  // mixed into the random ids (unique per run)
};

struct op_stats {
  histogram latency;  // from when the request was due (= sent, in closed loop) to the answer
  histogram service;  // from when it was written to the answer
  std::uint64_t requests = 0, ok = 0, rate_limited = 0, bad_status = 0, events = 0;
  std::uint64_t refused_items = 0;  // batch items the answer refused (not in events)
  void merge(const op_stats& o);
};

struct run_stats {
  std::array<op_stats, op_count> ops;
  std::uint64_t connect_errors = 0;  // failed connection attempts
  std::uint64_t io_errors = 0;       // requests lost to a broken connection or timeout
  std::uint64_t timeouts = 0;        // of which timeouts
  std::map<int, std::uint64_t> statuses;
  steady::time_point last_write_ack{};  // last usage/batch acknowledged, window or drain
  void merge(const run_stats& o);
};

struct run_result {
  run_stats stats;
  steady::time_point window_start, window_end;
  double loadgen_cpu_s = 0;  // user + system CPU of this process during the window
};

// Runs the load; blocks until the window is over and requests in flight have drained.
// `on_window` is called on the calling thread at the start and at the end of the window
// (for sampling, e.g. another process's CPU time).
run_result run_load(const run_options& o, void (*on_window)(bool start, void* arg) = nullptr,
                    void* arg = nullptr);

}  // namespace tally::loadgen
