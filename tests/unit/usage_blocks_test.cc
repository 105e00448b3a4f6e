// The usage log's blocks: rows close in time share one store entry, keyed by its last row; the
// readers give back exactly the rows written, in order, whatever blocks and lone rows (the
// layout before blocks) the store holds, for any range and any page boundary.
#include "projections/usage_blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "projections/store.h"
#include "projections/usage_log.h"

namespace tally {
namespace {

const time_ms t0 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

using rows_t = std::vector<std::pair<std::string, std::string>>;
using store_t = std::map<std::string, std::string>;

std::string key_of(const std::string& team, time_ms t, const std::string& id) {
  return usage_log_key(team_id{team}, t, event_id{id});
}

// Puts rows (any order) as one flush: sorted, then cut by the builder.
void flush(store_t& store, rows_t rows) {
  std::sort(rows.begin(), rows.end());
  usage_block_builder b([&](std::string_view k, std::string_view v) {
    ASSERT_TRUE(store.emplace(std::string(k), std::string(v)).second) << "key put twice: " << k;
  });
  for (auto& [k, v] : rows) b.add(k, v);
  b.finish();
}

rows_t expand(const store_t& store) {
  rows_t out;
  for (auto& [k, v] : store) {
    EXPECT_TRUE(for_each_usage_row(k, v, [&](std::string_view rk, std::string_view rv) {
      out.emplace_back(std::string(rk), std::string(rv));
    }));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A backward scan of the store's entries in [lo, hi), as ledger_store::scan_back.
auto scan_of(const store_t& store) {
  return [&store](std::string_view lo, std::string_view hi, const usage_entry_fn& g) {
    auto it = store.lower_bound(std::string(hi));
    while (it != store.begin()) {
      --it;
      if (it->first < lo) break;
      if (!g(it->first, it->second)) break;
    }
  };
}

rows_t scan(const store_t& store, std::string_view from, std::string_view to,
            std::size_t limit = SIZE_MAX) {
  rows_t out;
  scan_usage_rows(scan_of(store), from, to, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
    return out.size() < limit;
  });
  return out;
}

TEST(usage_blocks, rows_close_in_time_share_a_block_keyed_by_its_last_row) {
  store_t store;
  rows_t rows;
  // acme: 600 rows within 5 ms (two blocks: at most usage_block_rows each), then one row
  // 40 ms later (alone: written as the row itself). zeta: 3 rows, 2 ms apart.
  for (int i = 0; i < 600; ++i) {
    rows.emplace_back(key_of("acme", t0 + i % 5, "e" + std::to_string(1000 + i)),
                      "v" + std::to_string(i));
  }
  rows.emplace_back(key_of("acme", t0 + 45, "late"), "lone");
  for (int i = 0; i < 3; ++i)
    rows.emplace_back(key_of("zeta", t0 + 2 * i, "z" + std::to_string(i)), "z");
  flush(store, rows);
  std::sort(rows.begin(), rows.end());
  ASSERT_EQ(store.size(), 4u);
  auto it = store.begin();
  EXPECT_EQ(it->first, rows[usage_block_rows - 1].first);  // keyed by its last row
  EXPECT_TRUE(it->second.starts_with("b1"));
  ++it;
  EXPECT_EQ(it->first, rows[599].first);
  ++it;
  EXPECT_EQ(it->first, key_of("acme", t0 + 45, "late"));
  EXPECT_EQ(it->second, "lone");  // a lone row is stored as the row itself
  ++it;
  EXPECT_EQ(it->first, key_of("zeta", t0 + 4, "z2"));
  EXPECT_EQ(expand(store), rows);
}

TEST(usage_blocks, a_block_never_spans_the_window) {
  store_t store;
  rows_t rows;
  for (int i = 0; i < 5; ++i) {
    rows.emplace_back(key_of("acme", t0 + i * (usage_block_window_ms - 1), "e" + std::to_string(i)),
                      "v");
  }
  flush(store, rows);
  // t0, t0+9 | t0+18, t0+27 | t0+36 (each block's rows less than the window apart).
  ASSERT_EQ(store.size(), 3u);
  for (auto& [k, v] : store) {
    time_ms first = -1, last = -1;
    for_each_usage_row(k, v, [&](std::string_view rk, std::string_view) {
      if (first < 0) first = *usage_key_time(rk);
      last = *usage_key_time(rk);
    });
    EXPECT_LT(last - first, usage_block_window_ms) << k;
    EXPECT_EQ(*usage_key_time(k), last);
  }
}

TEST(usage_blocks, a_truncated_block_is_refused_not_misread) {
  store_t store;
  flush(store, {{key_of("acme", t0, "a"), "row-a"}, {key_of("acme", t0 + 1, "b"), "row-b"}});
  ASSERT_EQ(store.size(), 1u);
  const auto& [k, v] = *store.begin();
  std::vector<std::string> seen;
  EXPECT_FALSE(
      for_each_usage_row(k, std::string_view(v).substr(0, v.size() - 2),
                         [&](std::string_view rk, std::string_view) { seen.emplace_back(rk); }));
  EXPECT_EQ(seen, std::vector<std::string>{key_of("acme", t0, "a")});
  EXPECT_EQ(usage_key_time("acme/12x"), std::nullopt);
  EXPECT_EQ(usage_key_time("acme"), std::nullopt);
}

// A row given twice is kept once, with its later value (as a later put of the key would leave
// it), in a block and as a lone row.
TEST(usage_blocks, a_row_given_twice_is_kept_once_with_its_later_value) {
  store_t twice;
  usage_block_builder b([&](std::string_view k, std::string_view v) {
    twice.emplace(std::string(k), std::string(v));
  });
  int n = 0;
  for (auto id : {"a", "b", "b", "c", "c"}) {
    b.add(key_of("acme", t0, id), std::string("row-") + id + std::to_string(n++));
  }
  b.add(key_of("acme", t0 + 40, "lone"), "first");
  b.add(key_of("acme", t0 + 40, "lone"), "second");
  b.finish();
  EXPECT_EQ(expand(twice), (rows_t{{key_of("acme", t0, "a"), "row-a0"},
                                   {key_of("acme", t0, "b"), "row-b2"},
                                   {key_of("acme", t0, "c"), "row-c4"},
                                   {key_of("acme", t0 + 40, "lone"), "second"}}));
  EXPECT_EQ(twice.at(key_of("acme", t0 + 40, "lone")), "second");  // stored as the row itself
}

// Flushes of rows arriving in any order (late events land in a later flush than newer ones),
// lone rows as the store held them before blocks beside blocks: every range, every page of a
// backward scan, and the forward reader give exactly the rows, in order.
TEST(usage_blocks, readers_give_every_row_in_order_for_any_range_and_page) {
  std::mt19937_64 rng(7);
  store_t store;
  rows_t all;
  std::vector<std::string> teams = {"acme", "acme2", "beta"};
  for (int f = 0; f < 40; ++f) {
    rows_t rows;
    const int n = std::uniform_int_distribution<int>(1, 120)(rng);
    for (int i = 0; i < n; ++i) {
      const auto& team = teams[rng() % teams.size()];
      // Mostly recent, some late by up to 60 ms, some twice in the same millisecond.
      const time_ms t = t0 + f * 8 - static_cast<time_ms>(rng() % 4 == 0 ? rng() % 60 : rng() % 8);
      rows.emplace_back(key_of(team, t, "f" + std::to_string(f) + "-" + std::to_string(i)),
                        "row " + std::to_string(f) + "/" + std::to_string(i));
    }
    if (f % 5 == 0) {
      for (auto& r : rows) store.emplace(r);  // written before blocks: one entry per row
    } else {
      flush(store, rows);
    }
    all.insert(all.end(), rows.begin(), rows.end());
  }
  std::sort(all.begin(), all.end());
  const auto blocks =
      std::count_if(store.begin(), store.end(), [](auto& e) { return e.second.starts_with("b1"); });
  ASSERT_GT(blocks, 60);
  ASSERT_LT(store.size(), all.size() * 2 / 3);
  EXPECT_EQ(expand(store), all);

  rows_t forward;
  usage_rows_in_order in_order([&](std::string_view k, std::string_view v) {
    forward.emplace_back(std::string(k), std::string(v));
  });
  for (auto& [k, v] : store) in_order.entry(k, v);
  in_order.finish();
  EXPECT_EQ(forward, all);

  auto expected = [&](const std::string& from, const std::string& to) {
    rows_t out;
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->first >= from && it->first < to) out.push_back(*it);
    }
    return out;
  };
  for (const auto& team : teams) {
    const team_id tid{team};
    const std::string prefix = usage_log_prefix(tid), end = team + '0';
    EXPECT_EQ(scan(store, prefix, end), expected(prefix, end)) << team;
    for (int probe = 0; probe < 60; ++probe) {
      const time_ms a = t0 - 70 + static_cast<time_ms>(rng() % 400);
      const time_ms b = a + static_cast<time_ms>(rng() % 80);
      const auto from = usage_log_bound(tid, a), to = usage_log_bound(tid, b);
      EXPECT_EQ(scan(store, from, to), expected(from, to)) << team << " " << a << " " << b;
    }
    // Pages of 7 from the newest, each below the last row of the one before (the API's cursor).
    rows_t paged;
    std::string to = end;
    for (;;) {
      auto page = scan(store, prefix, to, 7);
      paged.insert(paged.end(), page.begin(), page.end());
      if (page.size() < 7) break;
      to = page.back().first;
    }
    EXPECT_EQ(paged, expected(prefix, end)) << team;
  }
}

// Through the RocksDB store and the state: a flush's rows land as a few blocks, and the usage
// log (store rows merged with rows not yet written) reads them back in order.
TEST(usage_blocks, the_store_writes_blocks_and_the_state_reads_rows) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tally-usage-blocks-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ledger_store store(store_options{dir.string()});
    std::vector<ledger_state::change> changes;
    rows_t rows;
    for (int i = 0; i < 300; ++i) {
      auto k = key_of("acme", t0 + (299 - i) / 60, "e" + std::to_string(i));
      rows.emplace_back(k, "row" + std::to_string(i));
      changes.push_back({column::usage, k, "row" + std::to_string(i)});
    }
    ASSERT_TRUE(store.write(changes).ok());
    std::size_t entries = 0;
    store.for_each(column::usage, "", [&](std::string_view, std::string_view) { ++entries; });
    EXPECT_EQ(entries, 1u);
    ledger_state state(&store);
    rows_t read;
    state.scan_usage_log("acme/", "acme0", [&](std::string_view k, std::string_view v) {
      read.emplace_back(std::string(k), std::string(v));
      return true;
    });
    std::sort(rows.rbegin(), rows.rend());
    EXPECT_EQ(read, rows);
    // A row written twice in one write keeps its later value, as a WriteBatch of puts would.
    const auto twice = key_of("acme", t0 + 9, "twice");
    ASSERT_TRUE(store
                    .write({{column::usage, twice, "first"},
                            {column::usage, key_of("acme", t0 + 9, "other"), "o"},
                            {column::usage, twice, "second"}})
                    .ok());
    rows_t last;
    state.scan_usage_log(usage_log_bound(team_id{"acme"}, t0 + 9), "acme0",
                         [&](std::string_view k, std::string_view v) {
                           last.emplace_back(std::string(k), std::string(v));
                           return true;
                         });
    EXPECT_EQ(last, (rows_t{{twice, "second"}, {key_of("acme", t0 + 9, "other"), "o"}}));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tally
