// tally-loadgen: simulates a fleet of agents against a running `tally serve` over its HTTP API
// and reports throughput, latency percentiles, status codes and (for writes) how long the
// projections took to fold the last acknowledged write. See producers/README.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>

#include "producers/loadgen/driver.h"
#include "producers/loadgen/http_sync.h"
#include "producers/loadgen/proc_cpu.h"
#include "producers/loadgen/readiness.h"

namespace {

using namespace tally::loadgen;
using verb = boost::beast::http::verb;

constexpr const char* footer = R"(
The server's rate limits (default 60,000 requests/min per key for ingest) cap a load test;
start the server for one with
  TALLY_INGEST_RATE_LIMIT_RPM=1000000 TALLY_RATE_LIMIT_RPM=1000000 tally serve ...
(1,000,000 is the largest allowed). 429 answers are counted apart as rate_limited.
Latency at a fixed load: run once with --rate 0 to find the maximum, then again with --rate at
80 % of it; paced latency counts from when each request was due (queueing included).
lag_ms is an upper bound: the time from the last acknowledged write to the first /metrics
poll that saw tally_events_stored_total (the events the store holds) at its final value
(polled every --lag-poll-ms). Reads see an event sooner: at its decision.
It starts once the server's /readyz answers 200 (up to --ready-timeout seconds): a server that is
up answers writes 503 until its partitions are assigned and caught up.
Exit status: 0 if requests were answered without errors or 429s, 1 otherwise or when setup
failed or the server was not ready, 2 for bad arguments or when batch mode is unavailable
(usage:batch answers 404).)";

// CPU time of other processes over the measured window (the server, the broker), and of each
// of the server's threads.
struct cpu_watch {
  struct proc {
    const char* name;
    int pid = 0;
    double start_s = 0, end_s = 0;
  };
  std::vector<proc> procs;
  int threads_of = 0;  // the pid whose threads are watched (the server's), 0: none
  std::map<std::string, double> threads_start, threads_end;
  double machine_start_busy = 0, machine_end_busy = 0;  // busy CPU seconds, all cores
};

void sample_cpu(bool start, void* arg) {
  auto* w = static_cast<cpu_watch*>(arg);
  (start ? w->machine_start_busy : w->machine_end_busy) = machine_busy_s();
  for (auto& p : w->procs) {
    (start ? p.start_s : p.end_s) = process_cpu_s(p.pid);
  }
  if (w->threads_of > 0) (start ? w->threads_start : w->threads_end) = thread_cpu_s(w->threads_of);
}

bool ok_create(const reply& r) {
  return r.status == 200 || r.status == 201;
}

std::string describe(const reply& r) {
  if (r.status == 0) return r.error;
  std::string b = r.body.substr(0, 300);
  return "HTTP " + std::to_string(r.status) + " " + b;
}

// The value of an unlabelled metric in a Prometheus text exposition.
std::optional<double> metric_value(const std::string& text, std::string_view name) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ' ') {
      return std::strtod(std::string(line.substr(name.size() + 1)).c_str(), nullptr);
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

double ms(std::uint64_t ns) {
  return double(ns) / 1e6;
}

void print_latency(const char* prefix, const histogram& h) {
  std::printf("%s_p50_ms %.3f\n%s_p90_ms %.3f\n%s_p99_ms %.3f\n%s_p999_ms %.3f\n", prefix,
              ms(h.percentile(0.5)), prefix, ms(h.percentile(0.9)), prefix, ms(h.percentile(0.99)),
              prefix, ms(h.percentile(0.999)));
  std::printf("%s_max_ms %.3f\n%s_mean_ms %.3f\n", prefix, ms(h.max()), prefix, h.mean() / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Simulate a fleet of agents against a running tally serve (HTTP API)"};
  app.footer(footer);
  std::string url = "http://127.0.0.1:8000", api_key, mode_name = "budget",
              model = "claude-sonnet-4-5";
  int agents = 64, teams = 4, batch_size = 100, server_pid = 0, broker_pid = 0, lag_poll_ms = 10;
  double lag_quiet_s = 1.0, lag_max_s = 60, ready_timeout_s = 30;
  bool setup = false, fresh_sessions = false;
  run_options o;
  if (const char* k = std::getenv("TALLY_API_KEY")) api_key = k;
  app.add_option("--url", url, "base URL of the Tally HTTP API")->capture_default_str();
  app.add_option("--api-key", api_key, "API key, sent as X-API-Key (or TALLY_API_KEY)");
  app.add_option("--agents", agents, "agents lg-agent-<i> the load is spread over")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--teams", teams, "teams lg-team-<i> the agents belong to (agent i: team i % T)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--connections", o.connections, "keep-alive connections, one request each")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--threads", o.threads,
                 "io threads of the generator (the server shares the cores)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--duration", o.duration_s, "measured seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup_s, "seconds of load before the measured window")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--mode", mode_name,
                 "budget: GET budget; usage: POST usage; batch: POST usage:batch; "
                 "mixed: 80 % budget, 20 % usage")
      ->capture_default_str()
      ->check(CLI::IsMember({"budget", "usage", "batch", "mixed"}));
  app.add_option("--batch-size", batch_size, "reports per batch (batch mode)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--rate", o.rate, "target requests/s over all connections; 0: as fast as possible")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--setup", setup, "create the teams and agents first (idempotent)");
  app.add_option("--ready-timeout", ready_timeout_s,
                 "seconds to wait for the server's /readyz to answer 200 (0: ask once)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--random-event-ids", o.random_event_ids,
               "send random 32-hex-digit event ids (as a fleet using UUIDs) instead of "
               "run.connection.sequence");
  app.add_flag("--fresh-sessions", fresh_sessions,
               "open new sessions every run (default: reuse lg-session-<i>)");
  app.add_option("--model", model, "model of the sessions opened")->capture_default_str();
  app.add_option("--server-pid", server_pid, "pid of the server: report its CPU use in the window");
  app.add_option("--broker-pid", broker_pid, "pid of the Kafka broker: report its CPU use too");
  app.add_option("--lag-poll-ms", lag_poll_ms, "projection lag: /metrics poll interval")
      ->capture_default_str();
  app.add_option(
         "--lag-quiet", lag_quiet_s,
         "projection lag: seconds the stored-events counter must stay still to call it done")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  std::string why;
  auto t = parse_url(url, &why);
  if (!t) {
    std::fprintf(stderr, "--url %s: %s\n", url.c_str(), why.c_str());
    return 2;
  }
  if (mode_name == "budget") o.m = mode::budget;
  if (mode_name == "usage") o.m = mode::usage;
  if (mode_name == "batch") o.m = mode::batch;
  if (mode_name == "mixed") o.m = mode::mixed;
  o.batch_size = batch_size;
  o.host_header = t->host_header;
  o.base_path = t->base_path;
  o.api_key = api_key;
  if (api_key.empty()) std::fprintf(stderr, "warning: no API key (--api-key or TALLY_API_KEY)\n");

  sync_client client(*t, api_key);
  try {
    o.endpoint = client.endpoint();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resolve %s: %s\n", t->host.c_str(), e.what());
    return 1;
  }
  // Up is not ready: until its partitions are assigned and caught up, a server answers writes
  // 503 (and a load run would measure that).
  {
    bool told = false;
    const auto w =
        wait_ready([&] { return client.request(verb::get, "/readyz", {}, false).status; },
                   std::max(1, static_cast<int>(ready_timeout_s * 10)),
                   [&] {
                     if (!told) std::fprintf(stderr, "waiting for %s/readyz\n", url.c_str());
                     told = true;
                     std::this_thread::sleep_for(std::chrono::milliseconds(100));
                   });
    if (!w.ready) {
      std::fprintf(stderr, "not ready after %.0f s (/readyz: %d)\n", ready_timeout_s,
                   w.last_status);
      return 1;
    }
  }
  auto team_name = [](int i) { return "lg-team-" + std::to_string(i); };
  for (int i = 0; i < agents; ++i) o.agents.push_back("lg-agent-" + std::to_string(i));

  if (setup) {
    for (int i = 0; i < teams; ++i) {
      auto n = team_name(i);
      auto r = client.request(verb::post, "/api/v1/teams",
                              R"({"id":")" + n + R"(","name":")" + n + R"(","timezone":"UTC"})");
      if (!ok_create(r)) {
        std::fprintf(stderr, "setup: team %s: %s\n", n.c_str(), describe(r).c_str());
        return 1;
      }
    }
    for (int i = 0; i < agents; ++i) {
      const auto& a = o.agents[std::size_t(i)];
      auto r = client.request(verb::post, "/api/v1/teams/" + team_name(i % teams) + "/agents",
                              R"({"id":")" + a + R"(","name":")" + a + R"(","type":"loadgen"})");
      if (!ok_create(r)) {
        std::fprintf(stderr, "setup: agent %s: %s\n", a.c_str(), describe(r).c_str());
        return 1;
      }
    }
    std::fprintf(stderr, "setup: %d teams, %d agents\n", teams, agents);
  }

  if (o.m == mode::batch) {
    auto r = client.request(verb::post, "/api/v1/usage:batch", R"({"reports":[]})");
    if (r.status == 404 || r.status == 405) {
      std::fprintf(stderr,
                   "batch mode is unavailable: POST /api/v1/usage:batch answered %d (this "
                   "server has no batch endpoint)\n",
                   r.status);
      return 2;
    }
    if (r.status == 0) {
      std::fprintf(stderr, "batch probe: %s\n", r.error.c_str());
      return 1;
    }
  }

  if (o.m != mode::budget) {
    // By default each agent i has the session lg-session-<i>, opened by the first run and
    // reused by the next ones (409 session_exists), so that repeated runs measure the same
    // state; --fresh-sessions opens new ones (server-chosen ids) every run.
    std::size_t opened = 0, reused = 0;
    for (std::size_t i = 0; i < o.agents.size(); ++i) {
      const auto& a = o.agents[i];
      const std::string fixed = "lg-session-" + std::to_string(i);
      std::string body = R"({"model":")" + model + "\"";
      if (!fresh_sessions) body += R"(,"session_id":")" + fixed + "\"";
      body += '}';
      auto r = client.request(verb::post, "/api/v1/agents/" + a + "/sessions", body);
      std::string sid;
      if (r.status == 201 || r.status == 200) {
        boost::system::error_code ec;
        auto v = boost::json::parse(r.body, ec);
        if (!ec && v.is_object()) {
          if (auto* p = v.as_object().if_contains("session_id"); p && p->is_string())
            sid = std::string(p->as_string());
        }
        if (!sid.empty()) ++opened;
      } else if (!fresh_sessions && r.status == 409 &&
                 r.body.find("session_exists") != std::string::npos) {
        sid = fixed;
        ++reused;
      }
      if (r.status == 202) {
        std::fprintf(stderr,
                     "opening a session of %s was queued: the server's max_concurrent_agents is "
                     "reached; run the load test against a server without that limit\n",
                     a.c_str());
        return 1;
      }
      if (sid.empty()) {
        std::fprintf(stderr, "opening a session of %s: %s\n", a.c_str(), describe(r).c_str());
        return 1;
      }
      o.sessions.push_back(std::move(sid));
    }
    std::fprintf(stderr, "sessions: %zu opened, %zu reused\n", opened, reused);
  }

  o.run_id = "lg" +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()) +
             "-" + std::to_string(getpid());
  o.id_seed = std::hash<std::string>{}(o.run_id);

  cpu_watch watch;
  if (server_pid > 0) {
    watch.procs.push_back({"server", server_pid});
    watch.threads_of = server_pid;
  }
  if (broker_pid > 0) watch.procs.push_back({"broker", broker_pid});
  run_result res = run_load(o, &sample_cpu, &watch);
  const run_stats& st = res.stats;
  const double window = std::chrono::duration<double>(res.window_end - res.window_start).count();

  op_stats all;
  for (const auto& s : st.ops) all.merge(s);
  const std::uint64_t errors = all.bad_status + st.io_errors + st.connect_errors;
  const double rps = double(all.requests) / window;
  const double eps = double(all.events) / window;

  std::printf("requests %" PRIu64 "\nok %" PRIu64 "\nerrors %" PRIu64 "\n", all.requests, all.ok,
              errors);
  std::printf("rate_limited %" PRIu64 "\nbad_status %" PRIu64 "\nio_errors %" PRIu64
              "\ntimeouts %" PRIu64 "\nconnect_errors %" PRIu64 "\n",
              all.rate_limited, all.bad_status, st.io_errors, st.timeouts, st.connect_errors);
  for (auto [code, n] : st.statuses) std::printf("status_%d %" PRIu64 "\n", code, n);
  std::printf("rps %.1f\nevents_per_s %.1f\n", rps, eps);
  if (o.m == mode::batch) std::printf("refused_items %" PRIu64 "\n", all.refused_items);
  print_latency("latency", all.latency);
  if (o.rate > 0) print_latency("service", all.service);
  if (o.m == mode::mixed) {
    for (auto k : {op::budget, op::usage}) {
      const op_stats& s = st.ops[std::size_t(k)];
      std::printf("%s_requests %" PRIu64 "\n", to_string(k), s.requests);
      print_latency(to_string(k), s.latency);
    }
  }
  std::printf("loadgen_cpu_pct %.1f\n", 100.0 * res.loadgen_cpu_s / window);
  if (watch.machine_start_busy >= 0 && watch.machine_end_busy >= 0) {
    std::printf("machine_busy_pct %.1f (of %u cores x 100)\n",
                100.0 * (watch.machine_end_busy - watch.machine_start_busy) / window,
                std::thread::hardware_concurrency());
  }
  // CPU per event (batch and usage modes) or per request (budget), in µs: the server's, the
  // broker's and each of the server's threads' (most first).
  const bool per_event = all.events > 0;
  const double units = per_event ? double(all.events) : double(all.requests);
  const char* unit = per_event ? "event" : "request";
  for (const auto& p : watch.procs) {
    if (p.start_s >= 0 && p.end_s >= 0) {
      std::printf("%s_cpu_pct %.1f\n", p.name, 100.0 * (p.end_s - p.start_s) / window);
      if (units > 0) {
        std::printf("%s_us_per_%s %.2f\n", p.name, unit, 1e6 * (p.end_s - p.start_s) / units);
      }
    }
  }
  if (units > 0 && !watch.threads_end.empty()) {
    std::vector<std::pair<double, std::string>> spent;
    for (const auto& [name, end] : watch.threads_end) {
      auto it = watch.threads_start.find(name);
      const double d = end - (it == watch.threads_start.end() ? 0.0 : it->second);
      if (d > 0) spent.emplace_back(d, name);
    }
    std::sort(spent.rbegin(), spent.rend());
    std::printf("server_threads_us_per_%s", unit);
    for (const auto& [d, name] : spent) std::printf(" %s=%.2f", name.c_str(), 1e6 * d / units);
    std::printf("\n");
  }

  // Projection lag: from the last acknowledged write until the store's event count stopped
  // moving.
  std::string lag_text;
  if (o.m != mode::budget && st.last_write_ack != steady::time_point{}) {
    double last_value = -1;
    steady::time_point settled_at{};
    const auto give_up = steady::now() + std::chrono::duration_cast<steady::duration>(
                                             std::chrono::duration<double>(lag_max_s));
    bool done = false, caught_up = false;
    while (!done && steady::now() < give_up) {
      auto r = client.request(verb::get, "/metrics", {}, false);
      const auto now = steady::now();
      if (r.status == 200) {
        // The store's count: reads see a decided event at once (the owner folds its own
        // decisions as it makes them); the store holds it once the log has it durably.
        auto folded = metric_value(r.body, "tally_events_stored_total");
        if (!folded) folded = metric_value(r.body, "tally_events_folded_total");
        auto cu = metric_value(r.body, "tally_projections_caught_up");
        caught_up = cu && *cu == 1.0;
        if (folded && *folded != last_value) {
          last_value = *folded;
          settled_at = now;
        }
        done =
            caught_up && folded && now - settled_at >= std::chrono::duration<double>(lag_quiet_s);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(lag_poll_ms));
    }
    if (done) {
      const double lag =
          std::chrono::duration<double, std::milli>(settled_at - st.last_write_ack).count();
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", std::max(0.0, lag));
      lag_text = buf;
      std::printf("lag_ms %s\nevents_stored_total %.0f\n", buf, last_value);
    } else {
      lag_text = "unknown";
      std::printf("lag_ms unknown (not caught up within %.0f s)\n", lag_max_s);
    }
  }

  std::printf("mode=%s connections=%d threads=%d duration=%.1fs requests=%" PRIu64 " ok=%" PRIu64
              " errors=%" PRIu64 " rate_limited=%" PRIu64
              " rps=%.0f p50_ms=%.3f p99_ms=%.3f"
              " p999_ms=%.3f events_per_s=%.0f",
              to_string(o.m), o.connections, o.threads, window, all.requests, all.ok, errors,
              all.rate_limited, rps, ms(all.latency.percentile(0.5)),
              ms(all.latency.percentile(0.99)), ms(all.latency.percentile(0.999)), eps);
  if (o.rate > 0) std::printf(" rate=%.0f", o.rate);
  if (o.m == mode::batch) std::printf(" batch_size=%d", o.batch_size);
  if (!lag_text.empty()) std::printf(" lag_ms=%s", lag_text.c_str());
  std::printf("\n");
  return all.requests > 0 && errors == 0 && all.rate_limited == 0 ? 0 : 1;
}
