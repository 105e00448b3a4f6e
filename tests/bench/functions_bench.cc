// Micro-benchmarks of the functions on the fold path (Google Benchmark):
//   tally_bench_functions [--benchmark_filter=REGEX] [--benchmark_repetitions=N]
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "projections/ledger_state.h"
#include "schemas/events.h"
#include "schemas/money.h"

namespace {

tally::event sample_usage(int i) {
  tally::usage_recorded u;
  u.team = tally::team_id{"team-3"};
  u.agent = tally::agent_id{"agent-" + std::to_string(i % 64)};
  u.session = tally::session_id{"sess-" + std::to_string(i % 1024)};
  u.task = tally::task_id{"task-" + std::to_string(i % 32)};
  u.model = "claude-sonnet-4-5";
  u.effort = "high";
  u.tokens = {12'345, 2'345, 512, 40'000};
  u.cost = tally::nanos{12'345'678};
  u.source = tally::cost_source::computed;
  u.price_version = "2026-11-01";
  u.occurred_at = 1'795'000'000'000 + i * 1'000LL;
  auto ts = tally::format_rfc3339(u.occurred_at);
  u.day = ts.substr(0, 10);
  u.month = ts.substr(0, 7);
  tally::event e;
  e.id = tally::event_id{"ev-" + std::to_string(i)};
  e.time = u.occurred_at;
  e.payload = std::move(u);
  return e;
}

void BM_parse_usd(benchmark::State& state) {
  const std::string_view inputs[] = {"0.0123", "12.5", "0.000001234", "1234.56789"};
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = tally::parse_usd(inputs[i++ & 3]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_parse_usd);

void BM_format_usd(benchmark::State& state) {
  const tally::nanos inputs[] = {tally::nanos{12'300'000}, tally::nanos{12'500'000'000},
                                 tally::nanos{1'234}, tally::nanos{1'234'567'890'000}};
  std::size_t i = 0;
  for (auto _ : state) {
    auto s = tally::format_usd(inputs[i++ & 3]);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_format_usd);

void BM_encode_event(benchmark::State& state) {
  auto e = sample_usage(7);
  for (auto _ : state) {
    auto s = tally::encode_event(e);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_encode_event);

void BM_decode_event(benchmark::State& state) {
  const std::string text = tally::encode_event(sample_usage(7));
  for (auto _ : state) {
    auto r = tally::decode_event(text);
    if (!r) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_decode_event);

// The fold of one UsageRecorded into a state without a source (all in memory); the events
// differ (ids, agents, sessions) so the dedup markers and session rows grow as in a real fold.
void BM_ledger_state_apply(benchmark::State& state) {
  std::vector<tally::event> events;
  for (int i = 0; i < 4096; ++i) events.push_back(sample_usage(i));
  tally::ledger_state s;
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == events.size()) {
      // New ids for the next round, outside the timing, so no fold is a duplicate.
      state.PauseTiming();
      for (auto& e : events) e.id = tally::event_id{e.id.str() + "x"};
      s.drain();
      s.evict_clean();
      i = 0;
      state.ResumeTiming();
    }
    auto r = s.apply(events[i++]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ledger_state_apply);

// The fold as the projector runs it, without Kafka and without RocksDB: decode each record,
// apply it, and every 8,000 records drain the changes and evict as partition_owner::flush does.
// The events mix 8 teams, 64 agents, 16 sessions per agent and 32 tasks over 4 days, as
// tally_bench_fold's do; the ids are new every round so nothing is a duplicate.
void BM_fold_steady(benchmark::State& state) {
  const char* models[] = {"claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "gpt-5-mini",
                          "gemini-2.5-pro"};
  const char* efforts[] = {"", "low", "medium", "high"};
  std::vector<tally::event> events;
  std::uint64_t x = 42;
  auto rng = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 64'000; ++i) {
    auto e = sample_usage(i);
    auto& u = std::get<tally::usage_recorded>(e.payload);
    const int a = static_cast<int>(rng() % 64);
    u.team = tally::team_id{"team-" + std::to_string(a % 8)};
    u.agent = tally::agent_id{"agent-" + std::to_string(a)};
    u.session = tally::session_id{"sess-" + std::to_string(a) + "-" + std::to_string(rng() % 16)};
    u.task = rng() % 2 ? tally::task_id{"task-" + std::to_string(rng() % 32)} : tally::task_id{};
    u.model = models[rng() % 5];
    u.effort = efforts[rng() % 4];
    u.occurred_at = 1'795'000'000'000 + static_cast<std::int64_t>(rng() % (4 * 86'400'000LL));
    auto ts = tally::format_rfc3339(u.occurred_at);
    u.day = ts.substr(0, 10);
    u.month = ts.substr(0, 7);
    e.time = u.occurred_at;
    events.push_back(std::move(e));
  }
  std::vector<std::string> texts;
  // A store that has nothing: what was drained is gone, as if written elsewhere.
  struct empty_source final : tally::state_source {
    std::optional<std::string> get(tally::column, std::string_view) override {
      return std::nullopt;
    }
  } nothing;
  tally::ledger_state s(&nothing);
  int round = 0;
  auto encode_round = [&] {
    texts.clear();
    for (auto& e : events) {
      e.id = tally::event_id{"ev-" + std::to_string(round) + "-" + e.id.str()};
      texts.push_back(tally::encode_event(e));
    }
    ++round;
  };
  encode_round();
  std::size_t i = 0, since_flush = 0, rows = 0;
  for (auto _ : state) {
    if (i == texts.size()) {
      state.PauseTiming();
      encode_round();
      i = 0;
      state.ResumeTiming();
    }
    auto e = tally::decode_event(texts[i++]);
    if (!e) state.SkipWithError("decode failed");
    auto r = s.apply(*e);
    benchmark::DoNotOptimize(r);
    if (++since_flush == 8'000) {
      rows += s.drain().size();
      s.evict_clean_over(200'000);
      since_flush = 0;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["rows_per_event"] =
      static_cast<double>(rows) /
      static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
}
BENCHMARK(BM_fold_steady);

void BM_for_each_total(benchmark::State& state) {
  auto e = sample_usage(7);
  const auto& u = std::get<tally::usage_recorded>(e.payload);
  std::int64_t sum = 0;
  for (auto _ : state) {
    tally::for_each_total(u, false, [&](const std::string& k, const tally::totals& d) {
      sum += static_cast<std::int64_t>(k.size()) + d.events;
    });
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_for_each_total);

// The store writer's ordering of a drained batch (ledger_state::batch::in_key_order): 4,000
// dedup markers and 4,000 usage-log rows of 4 teams, the markers' ids as tally-loadgen's
// (state.range(0) 0: run.connection.sequence, long shared prefixes) or random (1: UUID-like).
void BM_batch_key_order(benchmark::State& state) {
  tally::ledger_state::batch b;
  std::uint64_t x = 0x9e3779b97f4a7c15;
  for (int i = 0; i < 4000; ++i) {
    const int conn = i % 32;
    const std::string team = "lg-team-" + std::to_string(conn % 4) + "/";
    std::string id;
    if (state.range(0) == 0) {
      id = "lg1796684382452-6592." + std::to_string(conn) + "." + std::to_string(113000 + i / 32);
    } else {
      char hex[33];
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const auto a = x;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(a),
                    static_cast<unsigned long long>(x));
      id = hex;
    }
    b.markers.emplace_back(team + id, std::string(40, 'm'));
    b.usage.emplace_back(team + "0001796684382" + std::to_string(452 + i / 500) + "/" + id,
                         std::string(120, 'u'));
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    b.in_key_order([&](tally::column, std::string_view k, std::string_view) { bytes += k.size(); });
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(state.iterations() * 8000);
}
BENCHMARK(BM_batch_key_order)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
