// The fold's writes off the owner thread: a drained batch stays readable (usage log, dedup
// markers) until it is in the store, batches reach the store in order with their folded events
// reported once each, and a failed write stops the fold.
#include "consumers/store_writer.h"

#include "consumers/ack_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <tuple>

#include "tests/support/kafka_env.h"
#include "tests/support/usage_events.h"

namespace tally {
namespace {

using testing::usage_event;
using testing::usage_t0;

std::size_t usage_rows(ledger_state& s) {
  std::size_t n = 0;
  s.scan_usage_log("acme/", "acme0", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  return n;
}

// contains() answers each key where it was asked, whether the keys come in order (MultiGet is
// then spared its sort) or not, duplicates included.
TEST(store_writer, the_store_tells_which_keys_it_holds_in_any_order) {
  test::scoped_temp_dir dir("tally-contains");
  ledger_store store({.path = dir.path});
  ASSERT_TRUE(store
                  .write({{column::dedup, "acme/b", "d"},
                          {column::dedup, "acme/d", "d"},
                          {column::dedup, "beta/a", "d"}})
                  .ok());
  const std::vector<std::string_view> sorted = {"acme/a", "acme/b", "acme/b",
                                                "acme/c", "acme/d", "beta/a"};
  EXPECT_EQ(store.contains(column::dedup, sorted),
            (std::vector<bool>{false, true, true, false, true, true}));
  const std::vector<std::string_view> unsorted = {"beta/a", "acme/c", "acme/d", "acme/a", "acme/b"};
  EXPECT_EQ(store.contains(column::dedup, unsorted),
            (std::vector<bool>{true, false, true, false, true}));
  EXPECT_EQ(store.contains(column::usage, sorted), std::vector<bool>(sorted.size(), false));
}

TEST(store_writer, a_drained_batch_stays_readable_until_it_is_in_the_store) {
  test::scoped_temp_dir dir("tally-in-flight");
  ledger_store store({.path = dir.path});
  ledger_state state(&store);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(state.apply(usage_event(i)), fold_outcome::applied);
  auto batch = state.drain_batch();
  EXPECT_EQ(state.dirty_count(), 0u);
  EXPECT_EQ(batch->usage.size(), 10u);
  EXPECT_EQ(batch->markers.size(), 10u);
  EXPECT_FALSE(batch->has_outbox);
  // Drained, not written: the rows are read from the batch and the cache.
  EXPECT_EQ(usage_rows(state), 10u);
  EXPECT_TRUE(state.seen(team_id{"acme"}, event_id{"u3"}));
  EXPECT_EQ(state.apply(usage_event(3)), fold_outcome::duplicate);
  EXPECT_EQ(state.get_totals("t/acme/d/2026-11-23").events, 10);
  // Written and still in flight: each row once.
  ASSERT_TRUE(store.write(*batch, {}).ok());
  EXPECT_EQ(usage_rows(state), 10u);
  // Retired and evicted: the store answers.
  state.retire_in_flight();
  state.evict_clean_over(0);
  EXPECT_EQ(usage_rows(state), 10u);
  EXPECT_TRUE(state.seen(team_id{"acme"}, event_id{"u3"}));
  EXPECT_EQ(state.apply(usage_event(3)), fold_outcome::duplicate);
  EXPECT_EQ(state.get_totals("t/acme/d/2026-11-23").events, 10);
}

// The per-event rows are drained unsorted (a move under the owner's lock); the store gets them
// in key order all the same, exactly the rows and the order drain() gives.
TEST(store_writer, a_drained_batch_is_written_in_the_order_drain_gives) {
  ledger_state a(nullptr), b(nullptr);
  for (int i : {7, 3, 12, 0, 9, 1, 15, 4}) {
    auto e = usage_event(i);
    e.payload = usage_recorded{[&] {
      auto u = std::get<usage_recorded>(e.payload);
      u.occurred_at = usage_t0 + 100 - i;  // usage log keys in another order than the ids
      return u;
    }()};
    a.apply(e);
    b.apply(e);
    a.set_meta_i64("ledger/0", i);
    b.set_meta_i64("ledger/0", i);
  }
  auto batch = b.drain_batch();
  ASSERT_EQ(batch->markers.size(), 8u);
  EXPECT_FALSE(std::is_sorted(batch->markers.begin(), batch->markers.end()));
  std::vector<std::tuple<column, std::string, std::string>> written;
  batch->in_key_order([&](column cf, std::string_view k, std::string_view v) {
    written.emplace_back(cf, std::string(k), std::string(v));
  });
  std::vector<std::tuple<column, std::string, std::string>> drained;
  for (auto& c : a.drain()) drained.emplace_back(c.cf, c.key, c.value);
  EXPECT_EQ(written, drained);
  // In key order within each column (the memtable inserts each row next to the one before).
  for (std::size_t i = 1; i < written.size(); ++i) {
    const auto& [cf0, k0, v0] = written[i - 1];
    const auto& [cf1, k1, v1] = written[i];
    EXPECT_TRUE(cf0 < cf1 || (cf0 == cf1 && k0 < k1)) << k0 << " then " << k1;
  }
}

// The order is std::string's (bytes unsigned, a prefix first, then the value) whatever the keys
// share: long common prefixes, keys that end inside the eight bytes sorted on first, zero and
// high bytes, equal keys with different values.
TEST(store_writer, a_batch_puts_its_rows_in_string_order_whatever_their_keys_share) {
  std::mt19937_64 rng(20261208);
  const char letters[] = "\x00\x01/09az\x7f\x80\xff";
  const std::string alphabet(letters, sizeof letters - 1);  // ten bytes, the zero byte included
  for (int round = 0; round < 200; ++round) {
    ledger_state::batch b;
    const std::string prefix = round % 2 ? "team-1/lg1796684382452-6592." : "";
    const int n = 1 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) {
      std::string key = prefix;
      for (auto len = rng() % 30; len > 0; --len) key.push_back(alphabet[rng() % alphabet.size()]);
      std::string value(1, static_cast<char>('a' + rng() % 3));
      b.markers.emplace_back(key, value);
      b.usage.emplace_back(std::move(key), std::move(value));
    }
    std::vector<std::pair<std::string, std::string>> want(b.usage.begin(), b.usage.end());
    std::sort(want.begin(), want.end());
    std::vector<std::pair<std::string, std::string>> dedup, usage;
    b.in_key_order([&](column cf, std::string_view k, std::string_view v) {
      (cf == column::dedup ? dedup : usage).emplace_back(std::string(k), std::string(v));
    });
    EXPECT_EQ(dedup, want) << "round " << round;
    EXPECT_EQ(usage, want) << "round " << round;
  }
}

// The WriteBatch is built before before_commit runs (it waits for acks meanwhile); when it
// throws, nothing of the batch is in the store.
TEST(store_writer, a_batch_whose_before_commit_throws_leaves_the_store_unchanged) {
  test::scoped_temp_dir dir("tally-before-commit");
  ledger_store store({.path = dir.path});
  ledger_state state(&store);
  state.apply(usage_event(1));
  auto batch = state.drain_batch();
  EXPECT_THROW(store.write(*batch, [] { throw std::runtime_error("not durable"); }),
               std::runtime_error);
  EXPECT_FALSE(store.get(column::dedup, "acme/u1").has_value());
  int calls = 0;
  ASSERT_TRUE(store.write(*batch, [&] { ++calls; }).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(store.get(column::dedup, "acme/u1").has_value());
  EXPECT_EQ(ledger_state(&store).get_totals("t/acme/d/2026-11-23").events, 1);
}

TEST(store_writer, batches_reach_the_store_in_order_and_are_reported_once_each) {
  test::scoped_temp_dir dir("tally-order");
  ledger_store store({.path = dir.path});
  ledger_state state(&store);
  std::vector<std::string> reported;  // written by the writer's thread
  std::vector<std::int64_t> stored;   // the offset in the store when each batch was reported
  {
    store_writer writer(store, [&](const store_writer::job& j) {
      for (auto& e : j.folded) reported.push_back(e.id.str());
      auto v = store.get(column::meta, "ledger/0");
      std::int64_t n = -1;
      if (v) decode_i64(*v, n);
      stored.push_back(n);
    });
    for (int i = 0; i < 50; ++i) {
      state.apply(usage_event(i));
      state.set_meta_i64("ledger/0", i + 1);
      writer.submit({state.drain_batch(), {usage_event(i)}});
    }
    writer.wait();
    EXPECT_TRUE(writer.idle());
  }
  ASSERT_EQ(reported.size(), 50u);
  ASSERT_EQ(stored.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(reported[i], "u" + std::to_string(i));
    EXPECT_EQ(stored[i], i + 1);  // its own batch is in the store when it is reported
  }
  ledger_state fresh(&store);
  EXPECT_EQ(usage_rows(fresh), 50u);
  EXPECT_EQ(fresh.get_totals("t/acme/d/2026-11-23").events, 50);
}

TEST(store_writer, a_failed_write_is_reported_and_nothing_is_announced) {
  test::scoped_temp_dir dir("tally-failed");
  { ledger_store created({.path = dir.path}); }
  ledger_store read_only({.path = dir.path, .read_only = true});
  ledger_state state(&read_only);
  int announced = 0;
  store_writer writer(read_only, [&](const store_writer::job&) { ++announced; });
  state.apply(usage_event(1));
  writer.submit({state.drain_batch(), {usage_event(1)}});
  EXPECT_THROW(writer.wait(), std::runtime_error);
  EXPECT_THROW(writer.submit({state.drain_batch(), {}}), std::runtime_error);
  EXPECT_EQ(announced, 0);
}

// The owner's batches wait for the acks of the events they hold (ack_tracker.h): a batch is
// written only once they are durable, and never when one of them failed.
TEST(store_writer, a_batch_waits_for_its_events_acks_and_is_never_written_after_a_failed_one) {
  test::scoped_temp_dir dir("tally-acks");
  ledger_store store({.path = dir.path});
  ledger_state state(&store);
  ack_tracker acks;
  acks.resize(2);
  int announced = 0;
  store_writer writer(store, [&](const store_writer::job&) { ++announced; });
  auto durable = [&acks](std::vector<std::int64_t> target) {
    return [&acks, target] {
      if (!acks.wait(target)) throw std::runtime_error("an append failed");
    };
  };
  state.apply(usage_event(1));
  acks.produced(0);
  acks.produced(1);
  writer.submit({state.drain_batch(), {usage_event(1)}, durable(acks.produced_counts())});
  acks.delivered(1, true);
  // One of its two events is durable: not written yet.
  EXPECT_FALSE(writer.idle());
  EXPECT_FALSE(store.get(column::dedup, "acme/u1").has_value());
  acks.delivered(0, true);
  writer.wait();
  EXPECT_EQ(announced, 1);
  EXPECT_TRUE(store.get(column::dedup, "acme/u1").has_value());

  state.apply(usage_event(2));
  acks.produced(0);
  writer.submit({state.drain_batch(), {usage_event(2)}, durable(acks.produced_counts())});
  acks.delivered(0, false);
  EXPECT_THROW(writer.wait(), std::runtime_error);
  EXPECT_FALSE(store.get(column::dedup, "acme/u2").has_value());
  EXPECT_EQ(announced, 1);
}

}  // namespace
}  // namespace tally
