// Test support for end-to-end tests of the real `tally` binary: spawning `tally serve` (fork/exec,
// output to a file), stopping it (SIGTERM) or killing it (SIGKILL), waiting for it; reading the
// store read-only beside it; deciding whether everything published has been processed (store
// meta against the topics' high watermarks); generating usage reports together with the totals
// they must produce, computed independently of the product code.
// Thread-safety: a tally_process is used by one thread; free functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include "projections/keys.h"

namespace tally::test {

// The options shared by `tally serve` and `tally replay`.
struct tally_options {
  std::string brokers;
  std::string data_dir;
  std::string topic_prefix;
  std::string node_id = "node-1";
  std::string group;
  std::string config_path;  // empty: no --config
  int partitions = 4;
  std::string listen = "127.0.0.1:0";  // serve only: the HTTP API (port 0: any free port)
  std::string dashboard_dir;           // serve only: --dashboard-dir (empty: the default)
};

// argv (without the program) for `tally <subcommand>` with these options.
std::vector<std::string> tally_args(const std::string& subcommand, const tally_options& o);

// Path of the `tally` binary of this build.
std::string tally_binary();

// One child process running build/tally; stdout and stderr go to `log_path`.
class tally_process {
 public:
  tally_process(const std::vector<std::string>& args, std::string log_path);
  ~tally_process();  // SIGKILLs and reaps the child if it still runs
  tally_process(const tally_process&) = delete;
  tally_process& operator=(const tally_process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const;

  // Waits until the log holds "tally ready" (true), the process exits or the timeout passes.
  bool wait_ready(std::chrono::milliseconds timeout);
  // The HTTP port the process printed ("tally listening on port N"), once ready; 0 if none.
  unsigned short http_port() const;
  // True while the child has not exited (reaps it when it has).
  bool running();
  void send(int signal);
  // Waits for the exit; returns the exit code, 128 + signal if killed, -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap; returns the status as wait().
  int kill_now();
  // SIGTERM and wait up to `timeout`; returns the status as wait().
  int terminate(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// Runs `tally <args>` to completion (output to log_path); returns the exit status, -1 on timeout
// (the child is then killed).
int run_tally(const std::vector<std::string>& args, const std::string& log_path,
              std::chrono::milliseconds timeout);

// The store of a data dir, read through a read-only RocksDB instance opened for this call.
struct store_snapshot {
  std::map<std::string, tally::totals> totals;
  std::map<std::string, std::int64_t> meta;
  std::int64_t meta_or(const std::string& key, std::int64_t fallback) const {
    auto it = meta.find(key);
    return it == meta.end() ? fallback : it->second;
  }
};
store_snapshot read_store(const std::string& data_dir);

// `tally inspect --raw --column <c>` for each column, concatenated.
std::string dump_store_raw(const std::string& data_dir, const std::vector<std::string>& columns);

// High watermarks of the topics of one broker (a librdkafka consumer handle, no group).
class watermarks {
 public:
  explicit watermarks(const std::string& brokers);
  ~watermarks();
  watermarks(const watermarks&) = delete;
  watermarks& operator=(const watermarks&) = delete;
  std::int64_t high(const std::string& topic, int partition) const;

 private:
  rd_kafka_t* rk_ = nullptr;
};

// Everything on the reports and ledger topics of `o` is folded into the store: for every
// partition p, meta reports/<p> == reports high watermark - 1 and ledger/<p> == ledger high
// watermark. `why` says what is missing when false.
bool fully_processed(const watermarks& w, const tally_options& o, const store_snapshot& s,
                     std::string* why);

// Polls until fully_processed or the deadline; `alive` (optional) aborts the wait when false.
// Returns true when processed; `why` holds the last reason otherwise.
bool wait_processed(const watermarks& w, const tally_options& o, std::chrono::milliseconds timeout,
                    const std::function<bool()>& alive, std::string* why);

// ---- reports and their expected totals ----------------------------------------------------

// The models of the test pricing (write_test_config) and their prices in nano-dollars per
// million tokens: input, output, cache write, cache read.
struct test_model {
  const char* name;
  std::int64_t in, out, cache_write, cache_read;
};
const std::vector<test_model>& test_models();
// Writes a config.yaml with the test pricing (effective 2020-01-01, no limits, no teams).
void write_test_config(const std::string& path);

// round_half_even(sum(tokens * price) / 1e6), exactly.
std::int64_t expected_cost(const test_model& m, std::int64_t in, std::int64_t out,
                           std::int64_t cache_write, std::int64_t cache_read);

// "YYYY-MM-DD" (UTC) and RFC 3339 ("...T..:..:..(.mmm)Z") of ms since the epoch.
std::string utc_day(std::int64_t ms);
std::string rfc3339_utc(std::int64_t ms);
std::int64_t now_ms();

// One generated report: its JSON line and what it adds to the totals once counted.
struct generated_report {
  std::string event_id;
  std::string team;
  std::string agent;
  std::string model;
  std::string day;  // UTC: the teams have no configured zone
  std::string month;
  std::string json;
  tally::totals adds;  // cost, four token buckets, events = 1
};

// Generates varied, valid reports: several teams and agents, Anthropic and OpenAI usage shapes,
// reported costs in plain decimal and exponent forms (some with sub-nano digits, rounded
// half-even) and computed costs from the test pricing; times within the last 36 hours.
class report_generator {
 public:
  report_generator(std::uint64_t seed, std::string id_prefix, int teams = 5,
                   int agents_per_team = 4);
  generated_report next();

 private:
  std::mt19937_64 rng_;
  std::string prefix_;
  int teams_, agents_;
  std::uint64_t counter_ = 0;
  std::int64_t now_;
};

// The rows the reports must produce, day and month windows of: g, t/<team>, a/<team>/<agent>;
// day window of gm/<model> and m/<team>/<model>.
class expected_totals {
 public:
  void add(const generated_report& r);
  const std::map<std::string, tally::totals>& rows() const { return rows_; }
  std::int64_t events() const;  // sum of the g/d/* rows

 private:
  std::map<std::string, tally::totals> rows_;
};

// Every expected row equals the store's (and the store has no other row of those scopes that
// is non-zero).
::testing::AssertionResult totals_match(const expected_totals& e, const store_snapshot& s);
// No expected row is exceeded in any counter (nothing counted twice), no rejected or unpriced
// event.
::testing::AssertionResult totals_not_exceeded(const expected_totals& e, const store_snapshot& s);

std::string describe(const tally::totals& t);

// Sum of the store's totals rows whose key starts with `prefix`.
tally::totals sum_rows(const store_snapshot& s, const std::string& prefix);

}  // namespace tally::test
