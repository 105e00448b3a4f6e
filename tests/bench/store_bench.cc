// The store writer's cost per event (Google Benchmark): flushes of a steady batched ingest
// written to a real RocksDB store on disk, each flush one WriteBatch of its dedup markers and
// usage-log rows (the two rows every usage event adds; the usage rows go in as blocks,
// projections/usage_blocks.h), in key order as the store writer puts them or in the order they
// were decided. CPU is the process's (RocksDB's flushes and compactions included). Measured on
// the 2-vCPU machine of the README, run in turn with the build before usage blocks: in key order,
// about 1.8 us per event with tally-loadgen's event ids (2.5 before) and about 4.0 with random
// ones (4.6 before: each marker lands somewhere else in the memtable's skiplist). A smaller dedup
// memtable (16 or 4 MB instead of 64) makes the writer cheaper with random ids but the process
// dearer (more compaction).
//   tally_bench_store [--benchmark_filter=REGEX]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "projections/store.h"

namespace {

using namespace tally;

// state.range(0): events per flush; state.range(1): 0 event ids as tally-loadgen's
// (run.connection.sequence), 1 random (UUID-like hex); state.range(2): 1 the rows ordered as the
// writer orders them (the sort timed with the write), 0 in the order they were decided.
void BM_store_flush(benchmark::State& state) {
  const auto per_flush = static_cast<std::size_t>(state.range(0));
  const bool random_ids = state.range(1) == 1;
  const bool sorted = state.range(2) == 1;
  const auto dir =
      std::filesystem::temp_directory_path() / ("tally-store-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ledger_store store(store_options{dir.string()});
    std::mt19937_64 rng(42);
    std::uint64_t seq = 0;
    std::int64_t time = 1'795'428'000'000;
    std::vector<ledger_state::change> changes;
    const std::string row(140, 'r');
    for (auto _ : state) {
      state.PauseTiming();
      changes.clear();
      std::vector<ledger_state::change> usage;
      for (std::size_t i = 0; i < per_flush; ++i, ++seq) {
        const std::string team = "lg-team-" + std::to_string(seq % 4);
        std::string id;
        if (random_ids) {
          char buf[40];
          std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)rng(),
                        (unsigned long long)rng());
          id = buf;
        } else {
          id = "r1234." + std::to_string(seq % 32) + "." + std::to_string(seq / 32);
        }
        changes.push_back({column::dedup, team + "/" + id, "2026-11-23\tR\t1200000\t00\tabc\t"});
        usage.push_back({column::usage,
                         team + "/" + std::to_string(time + std::int64_t(i / 100)) + "/" + id,
                         row});
      }
      time += std::int64_t(per_flush / 100);
      for (auto& u : usage) changes.push_back(std::move(u));
      state.ResumeTiming();
      if (sorted) {
        // As the store writer orders a drained batch: column by column, each in key order.
        std::vector<ledger_state::change*> order;
        order.reserve(changes.size());
        for (auto& c : changes) order.push_back(&c);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
          return a->cf != b->cf ? a->cf < b->cf : a->key < b->key;
        });
        std::vector<ledger_state::change> in_order;
        in_order.reserve(changes.size());
        for (auto* c : order) in_order.push_back(std::move(*c));
        changes.swap(in_order);
      }
      auto s = store.write(changes);
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    }
    state.SetItemsProcessed(state.iterations() * std::int64_t(per_flush));
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_store_flush)
    ->Args({4000, 0, 0})
    ->Args({4000, 0, 1})
    ->Args({4000, 1, 0})
    ->Args({4000, 1, 1})
    ->Iterations(500)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
