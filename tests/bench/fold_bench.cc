// Fold benchmark (a program, not a test): how fast the projector folds the ledger into RocksDB,
// next to how fast raw librdkafka produces the same records, in the same run on the same machine.
//
//   tally_bench_fold [--brokers HOST:PORT] [--events N] [--teams T] [--agents A]
//                    [--partitions P] [--data-dir DIR]
//
// Steps: fresh topics (unique prefix) -> pre-encode N UsageRecorded events -> produce them
// (key = team), timing until every record is acknowledged -> fold them with a partition_owner
// (decide_reports=false) into a fresh RocksDB store, timing until all N are folded and flushed ->
// print both rates and their ratio -> check the store's global totals against the produced sum.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "api/live_stream.h"
#include "consumers/control.h"
#include "consumers/partition_owner.h"
#include "producers/producer.h"
#include "projections/store.h"
#include "schemas/events.h"
#include "tests/support/kafka_env.h"

namespace {

using clock_type = std::chrono::steady_clock;

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// CPU seconds of this process's threads by thread name (/proc/self/task/*/stat: utime+stime).
std::map<std::string, double> cpu_by_thread() {
  std::map<std::string, double> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = text.substr(open + 1, close - open - 1);
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    out[name] += (utime + stime) / tick;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tally fold benchmark: fold events/s into RocksDB vs raw produce events/s"};
  std::string brokers;
  long events = 500'000;
  int teams = 8;
  int agents = 64;
  int partitions = 4;
  std::string data_dir;
  int flush_events = tally::owner_options{}.flush_every_events;
  int flush_ms = tally::owner_options{}.flush_every_ms;
  app.add_option("--flush-every-events", flush_events, "owner: events per WriteBatch at most");
  app.add_option("--flush-every-ms", flush_ms, "owner: flush after this long");
  bool live = false;
  app.add_flag("--live", live,
               "owner: publish every flush to a live stream hub (GET /api/v1/stream)");
  app.add_option("--brokers", brokers,
                 "bootstrap servers (default $TALLY_BROKERS, else start one)");
  app.add_option("--events", events, "number of UsageRecorded events")->check(CLI::PositiveNumber);
  app.add_option("--teams", teams, "number of teams")->check(CLI::PositiveNumber);
  app.add_option("--agents", agents, "number of agents (spread over the teams)")
      ->check(CLI::PositiveNumber);
  app.add_option("--partitions", partitions, "ledger partitions")->check(CLI::PositiveNumber);
  app.add_option("--data-dir", data_dir, "RocksDB directory (default: a fresh temp dir, removed)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  if (brokers.empty()) {
    if (const char* b = std::getenv("TALLY_BROKERS"); b && *b) brokers = b;
  }
  if (brokers.empty()) brokers = tally::test::test_brokers();
  bool remove_dir = false;
  if (data_dir.empty()) {
    data_dir = tally::test::make_temp_dir("tally-fold-bench");
    remove_dir = true;
  }

  std::cout << "machine: " << std::thread::hardware_concurrency() << " CPUs (nproc "
            << sysconf(_SC_NPROCESSORS_ONLN) << "), " << cpu_model() << "\n";
  std::cout << "load average at start: " << load_average() << "\n";
  std::cout << "brokers: " << brokers << ", events " << events << ", teams " << teams << ", agents "
            << agents << ", partitions " << partitions << ", store " << data_dir << "\n";

  // --- topics ------------------------------------------------------------------------------
  auto prefix = tally::test::unique_name("foldbench");
  tally::topic_names topics;
  topics.ledger = prefix + ".ledger";
  topics.reports = prefix + ".reports";
  topics.control = prefix + ".control";
  topics.alerts = prefix + ".alerts";
  topics.alerts_dlq = prefix + ".alerts.dlq";
  tally::ensure_topics(brokers, topics, partitions);

  // --- events --------------------------------------------------------------------------------
  const char* models[] = {"claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "gpt-5-mini",
                          "gemini-2.5-pro"};
  const char* efforts[] = {"", "low", "medium", "high"};
  const std::int64_t base = 1'795'000'000'000;  // 2026-11-18T... UTC, ms
  std::mt19937_64 rng(42);
  struct record {
    std::string key, value;
  };
  std::vector<record> records;
  records.reserve(events);
  std::int64_t expected_cost = 0, expected_tokens = 0;
  auto t_enc = clock_type::now();
  for (long i = 0; i < events; ++i) {
    int a = static_cast<int>(rng() % agents);
    int t = a % teams;
    tally::usage_recorded u;
    u.team = tally::team_id{fmt::format("team-{}", t)};
    u.agent = tally::agent_id{fmt::format("agent-{}", a)};
    u.session = tally::session_id{fmt::format("sess-{}-{}", a, rng() % 16)};
    if (rng() % 2) u.task = tally::task_id{fmt::format("task-{}", rng() % 32)};
    u.model = models[rng() % std::size(models)];
    u.effort = efforts[rng() % std::size(efforts)];
    u.tokens.input = static_cast<std::int64_t>(rng() % 20'000);
    u.tokens.output = static_cast<std::int64_t>(rng() % 4'000);
    u.tokens.cache_creation = static_cast<std::int64_t>(rng() % 1'000);
    u.tokens.cache_read = static_cast<std::int64_t>(rng() % 50'000);
    u.cost = tally::nanos{static_cast<std::int64_t>(rng() % 50'000'000)};
    u.source = tally::cost_source::computed;
    u.price_version = "2026-11-01";
    u.occurred_at = base + static_cast<std::int64_t>(rng() % (4 * 86'400'000LL));
    auto ts = tally::format_rfc3339(u.occurred_at);
    u.day = ts.substr(0, 10);
    u.month = ts.substr(0, 7);
    u.epoch = 0;
    tally::event e;
    e.id = tally::event_id{fmt::format("ev-{}", i)};
    e.time = u.occurred_at;
    e.source = "tally";
    expected_cost += u.cost.count;
    expected_tokens +=
        u.tokens.input + u.tokens.output + u.tokens.cache_creation + u.tokens.cache_read;
    std::string key = u.team.str();
    e.payload = std::move(u);
    records.push_back({std::move(key), tally::encode_event(e)});
  }
  double enc_s = seconds_since(t_enc);
  std::size_t bytes = 0;
  for (auto& r : records) bytes += r.value.size();
  std::cout << fmt::format("encoded {} events in {:.2f} s ({:.0f} events/s), mean {} bytes\n",
                           events, enc_s, events / enc_s, bytes / records.size());

  // --- produce -------------------------------------------------------------------------------
  double produce_rate = 0;
  {
    tally::producer_options po;
    po.brokers = brokers;
    po.client_id = "fold-bench";
    tally::producer out(po);
    auto t0 = clock_type::now();
    for (auto& r : records) {
      auto err = out.produce(topics.ledger, -1, r.key, r.value);
      if (err) {
        std::cerr << "produce: " << rd_kafka_err2str(err) << "\n";
        return 2;
      }
    }
    if (!out.flush(120'000)) {
      std::cerr << "produce: flush timed out\n";
      return 2;
    }
    double s = seconds_since(t0);
    if (out.failed() != 0) {
      std::cerr << "produce: " << out.failed() << " records failed\n";
      return 2;
    }
    produce_rate = events / s;
    std::cout << fmt::format("produce: {} records acked in {:.3f} s\n", events, s);
  }
  records.clear();
  records.shrink_to_fit();

  // --- fold ----------------------------------------------------------------------------------
  double fold_rate = 0;
  double owner_cpu = 0;
  std::uint64_t flushes = 0, duplicates = 0, skipped = 0;
  {
    tally::ledger_store store(tally::store_options{data_dir});
    tally::producer_options po;
    po.brokers = brokers;
    po.client_id = "fold-bench-owner";
    tally::producer out(po);
    tally::pricing_table pricing;
    tally::limit_policy policy;
    tally::owner_options oo;
    oo.brokers = brokers;
    oo.group_id = prefix + ".group";
    oo.instance_id = prefix + ".node";
    oo.ledger_topic = topics.ledger;
    oo.reports_topic = topics.reports;
    oo.decide_reports = false;
    oo.flush_every_events = flush_events;
    oo.flush_every_ms = flush_ms;
    oo.session_timeout_ms = 6'000;
    std::unique_ptr<tally::api::live_hub> hub;
    if (live) {
      hub = std::make_unique<tally::api::live_hub>();
      oo.after_flush = [h = hub.get()](std::vector<tally::event>& folded) {
        h->publish(std::move(folded));
      };
    }
    tally::partition_owner owner(oo, store, out, pricing, policy);
    std::atomic<bool> stop{false};
    std::exception_ptr failure;
    // The clock starts when the owner starts: group join and assignment count (they are part of
    // what a restarted projector pays), the first record's arrival is reported apart.
    auto t0 = clock_type::now();
    double owner_cpu_s = 0;
    auto cpu_now = [] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec / 1e9;
    };
    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    const auto threads0 = cpu_by_thread();
    std::thread runner([&] {
      pthread_setname_np(pthread_self(), "fold-owner");
      double c0 = cpu_now();
      try {
        owner.run(stop);
      } catch (...) {
        failure = std::current_exception();
        stop = true;
      }
      owner_cpu_s = cpu_now() - c0;
    });
    auto& c = owner.counters();
    clock_type::time_point t_first{};
    auto deadline = t0 + std::chrono::minutes(10);
    while (!stop && c.folded.load() + c.fold_duplicates.load() + c.fold_skipped.load() <
                        static_cast<std::uint64_t>(events)) {
      if (t_first == clock_type::time_point{} && c.folded.load() > 0) t_first = clock_type::now();
      if (clock_type::now() > deadline) {
        std::cerr << "fold: timed out at " << c.folded.load() << " events\n";
        stop = true;
        runner.join();
        return 2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // rarely: it shares the cores
    }
    stop = true;  // the owner flushes what is left before run() returns
    runner.join();
    double total_s = seconds_since(t0);
    if (failure) std::rethrow_exception(failure);
    if (t_first == clock_type::time_point{}) t_first = t0;
    // Measure from the first folded record to the end: the group join (a broker round trip of
    // seconds, once per process) is not the fold.
    double fold_s = total_s - std::chrono::duration<double>(t_first - t0).count();
    fold_rate = events / fold_s;
    flushes = c.flushes.load();
    duplicates = c.fold_duplicates.load();
    skipped = c.fold_skipped.load();
    rusage ru1{};
    getrusage(RUSAGE_SELF, &ru1);
    // Threads that ended (the owner's) are not listed: its CPU is the line above.
    std::string by_thread;
    for (auto& [name, cpu] : cpu_by_thread()) {
      auto it = threads0.find(name);
      double d = cpu - (it == threads0.end() ? 0 : it->second);
      if (d >= 0.01) by_thread += fmt::format(" {} {:.2f}", name, d);
    }
    auto tv = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    double process_cpu_s =
        tv(ru1.ru_utime) - tv(ru0.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_stime);
    owner_cpu = owner_cpu_s;
    std::cout << fmt::format(
        "fold: {} events folded and flushed in {:.3f} s ({} flushes; group join + first record "
        "{:.3f} s, not counted)\n"
        "fold: owner thread CPU {:.3f} s ({:.0f} events per CPU-second), whole process CPU "
        "{:.3f} s (consumer threads, RocksDB)\n",
        c.folded.load(), fold_s, flushes, std::chrono::duration<double>(t_first - t0).count(),
        owner_cpu_s, events / owner_cpu_s, process_cpu_s);
    std::cout << "fold: CPU seconds by thread:" << by_thread << "\n";
  }

  std::cout << "\n";
  std::cout << fmt::format("  raw produce  {:>12.0f} events/s\n", produce_rate);
  std::cout << fmt::format("  fold         {:>12.0f} events/s\n", fold_rate);
  std::cout << fmt::format("  ratio fold/produce  {:.2f}\n", fold_rate / produce_rate);
  std::cout << fmt::format(
      "  (fold thread alone: {:.0f} events per CPU-second; load average "
      "now {})\n",
      events / owner_cpu, load_average());
  std::cout << fmt::format("  target fold >= 150000 events/s: {}\n\n",
                           fold_rate >= 150'000 ? "met" : "NOT met");

  // --- correctness ---------------------------------------------------------------------------
  int rc = 0;
  {
    tally::ledger_store store(tally::store_options{data_dir, false, true});
    tally::totals global;
    store.for_each(tally::column::totals, "g/d/", [&](std::string_view, std::string_view v) {
      tally::totals t;
      if (tally::decode_totals(v, t)) global += t;
    });
    tally::totals monthly;
    store.for_each(tally::column::totals, "g/m/", [&](std::string_view, std::string_view v) {
      tally::totals t;
      if (tally::decode_totals(v, t)) monthly += t;
    });
    bool ok = global.cost_nanos == expected_cost && global.events == events &&
              global.tokens() == expected_tokens && monthly == global && duplicates == 0 &&
              skipped == 0;
    std::cout << fmt::format(
        "check: store global cost {} nanos / {} events / {} tokens; produced {} nanos / {} "
        "events / {} tokens: {}\n",
        global.cost_nanos, global.events, global.tokens(), expected_cost, events, expected_tokens,
        ok ? "OK" : "MISMATCH");
    if (!ok) rc = 1;
  }
  if (remove_dir) std::filesystem::remove_all(data_dir);
  return rc;
}
