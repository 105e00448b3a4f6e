// tally: serve (consume, decide, fold), replay (rebuild projections from the ledger), inspect
// (print projections). main() wires the parts together; none of them knows the others.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "api/alert_delivery.h"
#include "api/node_api.h"
#include "consumers/control.h"
#include "consumers/embedded_cluster.h"
#include "consumers/outbox_publisher.h"
#include "consumers/partition_owner.h"
#include "consumers/thread_priority.h"
#include "projections/budget.h"
#include "projections/store.h"
#include "projections/usage_blocks.h"
#include "schemas/config.h"

// jemalloc's options (read when it starts; MALLOC_CONF in the environment still overrides them).
// By default jemalloc gives allocations of 8 MiB and more an arena of their own that returns
// their pages to the kernel as soon as they are freed; RocksDB's memtable blocks are 8 MiB, so
// every new memtable faulted its pages in again (9 % of the store writer, and madvise calls in
// the threads that free). Kept in the ordinary arenas, and dirty pages kept 30 s rather than
// 10, the memory is reused instead.
extern "C" {
// NOLINTNEXTLINE: the name jemalloc looks up
const char* malloc_conf = "oversize_threshold:0,dirty_decay_ms:30000";
}

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
  g_stop = true;
}

// A status line that scripts and tests read ("tally listening on port N", "tally ready"), put
// into stdout in one call: other threads log to the same stream, and a line written piece by
// piece could be cut by one of theirs.
void status_line(const std::string& line) {
  std::cout << line + '\n' << std::flush;
}

tally::limit_set to_limit_set(const tally::limit_values& v) {
  tally::limit_set l;
  l.cost_per_day = v.max_cost_per_day;
  l.cost_per_month = v.max_cost_per_month;
  l.cost_per_run = v.max_cost_per_run;
  l.tokens_per_day = v.max_tokens_per_day;
  l.tokens_per_month = v.max_tokens_per_month;
  l.tokens_per_run = v.max_tokens_per_run;
  l.max_concurrent_sessions = v.max_concurrent_agents;
  return l;
}

tally::limit_policy policy_of(const tally::tally_config& c) {
  tally::limit_policy p;
  p.global = to_limit_set(c.limits.global);
  p.team_default = to_limit_set(c.limits.team_default);
  p.agent_default = to_limit_set(c.limits.agent_default);
  for (auto& [id, a] : c.limits.agents) p.agents[id] = to_limit_set(a);
  p.thresholds.clear();
  for (auto& t : c.alerts.thresholds) p.thresholds.push_back({t.percent, t.level, t.message});
  // Only the channel switches: rules (recipients, urls) are the dispatcher's, and a disabled
  // rule must not switch off the channel for API-created subscriptions.
  p.notifications = tally::channel_switches(c.alerts.notifications);
  for (auto& [id, t] : c.teams) {
    // A team's overrides apply key by key over the team default.
    auto l = p.team_default;
    auto o = to_limit_set(t.limits);
    if (o.cost_per_day) l.cost_per_day = o.cost_per_day;
    if (o.cost_per_month) l.cost_per_month = o.cost_per_month;
    if (o.tokens_per_day) l.tokens_per_day = o.tokens_per_day;
    if (o.tokens_per_month) l.tokens_per_month = o.tokens_per_month;
    if (o.max_concurrent_sessions) l.max_concurrent_sessions = o.max_concurrent_sessions;
    p.teams[id] = l;
  }
  return p;
}

struct common_options {
  std::string brokers;
  std::string config_path;
  std::string data_dir = "var/tally";
  std::string node_id = "tally-1";
  std::string group = "tally";
  int partitions = 4;
  bool embedded = false;
  std::string topic_prefix;               // tests isolate runs on one broker with a prefix
  std::string listen = "127.0.0.1:8000";  // the HTTP API; "off" serves none
  // Half the cores: the other half folds (owner, decoder, writer), runs librdkafka and RocksDB.
  // On 2 cores with the broker beside it one io thread served more than two did (budget reads
  // p99 1.1 vs 1.9 ms at the same rate, usage POSTs 22-27k vs 19-22k req/s).
  int http_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  int pipeline_nice = tally::default_pipeline_nice;
  std::string dashboard_dir;  // empty: <directory of this executable>/dashboard
};

tally::tally_config load_or_default(const std::string& path) {
  if (path.empty()) {
    tally::tally_config c;
    tally::apply_env_overrides(c).value();  // throws, naming the variable, on a bad value
    return c;
  }
  auto c = tally::load_config(path);
  if (!c) {
    throw std::runtime_error(path + ":" + std::to_string(c.error().line) + ": " +
                             c.error().message);
  }
  return *c;
}

// Runs the owner until stopped (serve) or until caught up with the ledger (replay).
int run_owner(const common_options& o, bool replay) {
  auto config = load_or_default(o.config_path);
  tally::topic_names topics;
  for (auto* t :
       {&topics.ledger, &topics.reports, &topics.control, &topics.alerts, &topics.alerts_dlq}) {
    *t = o.topic_prefix + *t;
  }
  std::unique_ptr<tally::embedded_cluster> embedded;
  std::string brokers = o.brokers;
  if (o.embedded) {
    embedded = std::make_unique<tally::embedded_cluster>(topics, o.partitions);
    brokers = embedded->bootstraps;
    spdlog::info("embedded mock cluster at {} (nothing survives a restart)", brokers);
  } else {
    if (brokers.empty()) throw std::runtime_error("no brokers: pass --brokers or TALLY_BROKERS");
    tally::ensure_topics(brokers, topics, o.partitions);
  }
  std::filesystem::create_directories(o.data_dir);
  tally::ledger_store store({.path = o.data_dir + "/store"});
  if (replay) {
    spdlog::info("replay: wiping {} and folding the ledger again", store.path());
    store.wipe();
  }
  tally::producer out({.brokers = brokers, .client_id = o.node_id});
  // The first record to a topic would otherwise wait while the client looks it up.
  for (const auto* t : {&topics.ledger, &topics.control, &topics.alerts, &topics.alerts_dlq}) {
    if (out.warm_topic(*t, 10'000) == 0) spdlog::warn("topic {}: no metadata yet", *t);
  }
  if (!replay && !o.config_path.empty()) {
    tally::publish_pricing(out, topics.control, config.pricing);
    tally::publish_config_teams(out, topics.ledger, config);
  }
  std::vector<std::string> key_records, webhook_records;
  auto pricing = tally::read_pricing(brokers, topics.control,
                                     [&](std::string_view type, std::string_view data) {
                                       if (type == tally::api::api_key_event_type) {
                                         key_records.emplace_back(data);
                                       } else if (type == tally::webhook_event_type) {
                                         webhook_records.emplace_back(data);
                                       }
                                     });
  auto policy = policy_of(config);

  tally::owner_options oo;
  oo.brokers = brokers;
  oo.group_id = replay ? o.group + "-replay" : o.group;
  oo.instance_id = replay ? o.node_id + "-replay" : o.node_id;
  oo.decide_reports = !replay;
  oo.ledger_topic = topics.ledger;
  oo.reports_topic = topics.reports;
  oo.late_grace_ms = config.late_grace_ms;
  oo.future_skew_ms = config.future_skew_ms;
  oo.source = "tally/" + o.node_id;
  oo.pipeline_nice = o.pipeline_nice;
  // serve publishes the alerts the fold put in the outbox; replay only rebuilds the outbox, and
  // the next serve drops what the alerts topic already holds.
  std::unique_ptr<tally::outbox_publisher> outbox;
  if (!replay) {
    outbox = std::make_unique<tally::outbox_publisher>(
        tally::outbox_options{.brokers = brokers, .alerts_topic = topics.alerts}, store, out);
    oo.after_outbox_flush = [p = outbox.get()] { p->notify(); };
    outbox->start();
  }
  // The live stream: the fold publishes each flush to the hub (set before run(), on this
  // thread); the hub is destroyed before the owner, after the API.
  tally::api::live_hub* hub_ptr = nullptr;
  if (!replay && o.listen != "off") {
    oo.after_flush = [&hub_ptr](std::vector<tally::event>& folded) {
      if (hub_ptr) hub_ptr->publish(std::move(folded));
    };
  }
  tally::partition_owner owner(oo, store, out, pricing, policy);
  // serve delivers the alerts of tally.alerts.v1 (webhooks, email); its state is not the
  // projections', so replay leaves it alone.
  std::unique_ptr<tally::api::alert_delivery> delivery;
  if (!replay) {
    tally::api::alert_delivery_options dop;
    dop.brokers = brokers;
    dop.control_topic = topics.control;
    dop.alerts_topic = topics.alerts;
    dop.dlq_topic = topics.alerts_dlq;
    dop.group_id = o.group + "-alerts";
    dop.instance_id = o.node_id + "-alerts";
    dop.data_dir = o.data_dir;
    delivery = std::make_unique<tally::api::alert_delivery>(dop, out, config, webhook_records);
    delivery->start();
  }
  std::unique_ptr<tally::api::live_hub> hub;
  std::unique_ptr<tally::api::node_api> api;
  if (!replay && o.listen != "off") {
    hub = std::make_unique<tally::api::live_hub>(tally::api::live_hub_options{
        .agent_of_session = [&owner](const tally::team_id& t, const tally::session_id& s) {
          std::optional<tally::agent_id> agent;
          owner.with_state([&](tally::live_view& live) {
            if (auto r = live.session(t, s)) agent = r->agent;
          });
          return agent;
        }});
    hub_ptr = hub.get();
    tally::api::node_api_options ao;
    ao.listen = o.listen;
    ao.threads = o.http_threads;
    ao.control_topic = topics.control;
    ao.source = oo.source;
    ao.late_grace_ms = config.late_grace_ms;
    ao.future_skew_ms = config.future_skew_ms;
    if (delivery) ao.webhooks = delivery->api();
    ao.dashboard_dir =
        o.dashboard_dir.empty() ? tally::api::default_dashboard_dir() : o.dashboard_dir;
    api = std::make_unique<tally::api::node_api>(ao, owner, out, policy, pricing, key_records,
                                                 hub.get());
    if (delivery) delivery->add_metrics(api->metrics());
    if (outbox) {
      const auto& c = outbox->counters();
      auto& m = api->metrics();
      m.add_counter("tally_alerts_published_total",
                    "Alerts the outbox published to the alerts topic",
                    [&c] { return double(c.published.load()); });
      m.add_counter("tally_alert_publish_failures_total",
                    "Alert publications that failed (retried)",
                    [&c] { return double(c.failed.load()); });
      // Until the publisher has read which alerts the topic holds (at start), none is published.
      m.add_gauge("tally_outbox_reconciled", "1 once the outbox publisher knows the alerts topic",
                  [&c] { return c.reconciled.load() ? 1.0 : 0.0; });
    }
    api->bootstrap_admin();
    api->start();
    status_line("tally listening on port " + std::to_string(api->port()));
  }

  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    // serve: until a signal; replay: until every assigned partition is caught up.
    while (!g_stop && !(replay && owner.counters().caught_up)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // In-flight requests are answered (their appends complete) before the owner stops.
    if (api) api->stop();
    stop = true;
  });
  spdlog::info("{} {} (brokers {}, data {})", replay ? "replaying" : "serving", o.node_id, brokers,
               o.data_dir);
  status_line("tally ready");
  try {
    owner.run(stop);
  } catch (...) {
    g_stop = true;
    watcher.join();
    if (outbox) outbox->stop();
    if (delivery) delivery->stop();
    throw;
  }
  watcher.join();
  if (outbox) outbox->stop();
  if (delivery) delivery->stop();
  const auto& c = owner.counters();
  spdlog::info(
      "stopped: folded {}, duplicates {}, skipped {}, reports recorded {} rejected {} "
      "duplicate {} invalid {}",
      c.folded.load(), c.fold_duplicates.load(), c.fold_skipped.load(), c.reports_recorded.load(),
      c.reports_rejected.load(), c.reports_duplicate.load(), c.reports_invalid.load());
  return 0;
}

std::string usd(std::int64_t nanos) {
  return tally::format_usd(tally::nanos{nanos});
}

struct budget_query {
  std::string team, agent, task;
};

int inspect(const common_options& o, const std::string& prefix, const std::string& column, bool raw,
            const budget_query& budget) {
  tally::ledger_store store({.path = o.data_dir + "/store", .read_only = true});
  if (!budget.team.empty()) {
    auto config = load_or_default(o.config_path);
    auto policy = policy_of(config);
    tally::ledger_state state(&store);
    tally::live_view live(state);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    std::cout << tally::render(tally::budget_of(live, policy, tally::team_id{budget.team},
                                                tally::agent_id{budget.agent},
                                                tally::task_id{budget.task}, now));
    return 0;
  }
  for (auto c : {tally::column::totals, tally::column::entities, tally::column::dedup,
                 tally::column::outbox, tally::column::meta, tally::column::usage}) {
    if (!column.empty() && tally::column_name(c) != column) continue;
    auto show = [&](std::string_view k, std::string_view v) {
      std::cout << tally::column_name(c) << ' ' << k << ' ';
      tally::totals t;
      std::int64_t i;
      if (raw) {
        static const char* hex = "0123456789abcdef";
        for (unsigned char ch : v) std::cout << hex[ch >> 4] << hex[ch & 15];
      } else if (c == tally::column::totals && tally::decode_totals(v, t)) {
        std::cout << "cost_usd=" << usd(t.cost_nanos) << " cost_nanos=" << t.cost_nanos
                  << " rejected_cost_usd=" << usd(t.rejected_cost_nanos)
                  << " input_tokens=" << t.input_tokens << " output_tokens=" << t.output_tokens
                  << " cache_creation_tokens=" << t.cache_creation_tokens
                  << " cache_read_tokens=" << t.cache_read_tokens << " events=" << t.events
                  << " rejected_events=" << t.rejected_events
                  << " unpriced_events=" << t.unpriced_events;
      } else if (c == tally::column::meta && tally::decode_i64(v, i)) {
        std::cout << i;
      } else {
        std::cout << v;
      }
      std::cout << '\n';
    };
    if (c != tally::column::usage) {
      store.for_each(c, prefix, show);
      continue;
    }
    // One line per usage log row, out of the blocks that hold them (usage_blocks.h). A block
    // holding a row with the prefix may be keyed past it: the team's entries are read.
    tally::usage_rows_in_order rows([&](std::string_view k, std::string_view v) {
      if (k.starts_with(prefix)) show(k, v);
    });
    const auto team_end = prefix.find('/');
    store.for_each(c, team_end == std::string::npos ? prefix : prefix.substr(0, team_end + 1),
                   [&](std::string_view k, std::string_view v) { rows.entry(k, v); });
    rows.finish();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tally: a cost-control ledger for fleets of AI agents"};
  app.require_subcommand(1);
  common_options o;
  if (const char* b = std::getenv("TALLY_BROKERS")) o.brokers = b;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--brokers", o.brokers, "Kafka bootstrap servers (or TALLY_BROKERS)");
    cmd->add_option("--config", o.config_path, "config.yaml: pricing, limits, teams");
    cmd->add_option("--data-dir", o.data_dir, "where the RocksDB store lives");
    cmd->add_option("--node-id", o.node_id, "stable id of this node (static group membership)");
    cmd->add_option("--group", o.group, "consumer group of the Tally nodes");
    cmd->add_option("--partitions", o.partitions, "partitions of ledger and reports topics");
    cmd->add_flag("--embedded", o.embedded, "use an in-process mock Kafka cluster (try-out)");
    cmd->add_option("--topic-prefix", o.topic_prefix, "prefix of every topic name (tests)");
  };
  auto* serve = app.add_subcommand("serve", "consume, decide and fold until SIGTERM/SIGINT");
  add_common(serve);
  serve->add_option("--listen", o.listen, "HTTP API address HOST:PORT (port 0: any; off: none)");
  serve->add_option("--http-threads", o.http_threads, "HTTP io threads (default: half the cores)");
  serve
      ->add_option("--pipeline-nice", o.pipeline_nice,
                   "nice levels the append and store-writer threads run below the io threads")
      ->check(CLI::Range(0, 19));
  serve->add_option("--dashboard-dir", o.dashboard_dir,
                    "the built dashboard served at / (default: <dir of tally>/dashboard)");
  auto* replay = app.add_subcommand("replay", "wipe the projections and fold the ledger again");
  add_common(replay);
  auto* insp = app.add_subcommand("inspect", "print projections (totals per scope and period)");
  std::string prefix, column;
  bool raw = false;
  insp->add_option("--data-dir", o.data_dir, "where the RocksDB store lives");
  insp->add_option("--prefix", prefix, "key prefix, e.g. t/acme/d/ (see projections/keys.h)");
  insp->add_option("--column", column, "totals | entities | dedup | outbox | meta | usage");
  insp->add_flag("--raw", raw, "values as hex bytes");
  budget_query bq;
  insp->add_option("--budget-team", bq.team, "print the budget state of this team instead");
  insp->add_option("--budget-agent", bq.agent, "... and of this agent");
  insp->add_option("--budget-task", bq.task, "... and of this task");
  insp->add_option("--config", o.config_path, "config.yaml whose limits apply");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  try {
    if (*serve) return run_owner(o, false);
    if (*replay) return run_owner(o, true);
    if (*insp) return inspect(o, prefix, column, raw, bq);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
