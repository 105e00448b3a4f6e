// ledger_state::remember_absent_markers(): the fold of an event whose id the decide path just
// looked up does not ask the store again, and the memory never hides a marker the store has.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "projections/keys.h"
#include "projections/ledger_state.h"
#include "tests/support/usage_events.h"

namespace tally {
namespace {

// A store in memory: answers get() from what the drains wrote, and counts the dedup reads.
class counting_source final : public state_source {
 public:
  std::optional<std::string> get(column cf, std::string_view key) override {
    if (cf == column::dedup) ++dedup_reads;
    auto it = rows.find({cf, std::string(key)});
    if (it == rows.end()) return std::nullopt;
    return it->second;
  }
  void write(ledger_state& s) {
    for (auto& c : s.drain()) rows[{c.cf, c.key}] = c.value;
  }
  std::vector<bool> contains(column cf, const std::vector<std::string_view>& keys) override {
    if (cf == column::dedup) ++batched_reads;
    std::vector<bool> out;
    for (auto k : keys) out.push_back(rows.count({cf, std::string(k)}) > 0);
    return out;
  }
  std::map<std::pair<column, std::string>, std::string> rows;
  int dedup_reads = 0;
  int batched_reads = 0;
};

const team_id acme{"acme"};

TEST(absent_markers, the_fold_after_a_lookup_does_not_read_the_store_again) {
  counting_source store;
  ledger_state state(&store);
  state.remember_absent_markers();
  const auto e = testing::usage_event(1);
  EXPECT_FALSE(state.seen(acme, e.id));
  EXPECT_EQ(store.dedup_reads, 1);
  EXPECT_EQ(state.apply(e), fold_outcome::applied);
  EXPECT_EQ(store.dedup_reads, 1);  // answered from the memory of the lookup
  // Its marker is now unwritten, then in the store: a duplicate is a duplicate either way.
  EXPECT_TRUE(state.seen(acme, e.id));
  EXPECT_EQ(state.apply(e), fold_outcome::duplicate);
  store.write(state);
  EXPECT_TRUE(state.seen(acme, e.id));
  EXPECT_EQ(state.apply(e), fold_outcome::duplicate);
  EXPECT_TRUE(state.original(acme, e.id).has_value());
}

TEST(absent_markers, without_it_the_fold_reads_the_store_for_each_event) {
  counting_source store;
  ledger_state state(&store);
  const auto e = testing::usage_event(1);
  EXPECT_FALSE(state.seen(acme, e.id));
  EXPECT_EQ(state.apply(e), fold_outcome::applied);
  EXPECT_EQ(store.dedup_reads, 2);
}

TEST(absent_markers, the_fold_alone_remembers_nothing) {
  // Events folded without a lookup before them (the log of another node) read the store once
  // each, and a later duplicate of one is found in the store.
  counting_source store;
  ledger_state state(&store);
  state.remember_absent_markers();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(state.apply(testing::usage_event(i)), fold_outcome::applied);
  EXPECT_EQ(store.dedup_reads, 3);
  store.write(state);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(state.apply(testing::usage_event(i)), fold_outcome::duplicate);
  }
  EXPECT_EQ(store.dedup_reads, 6);
}

// A batch's keys in one read: the absent ones are then decided and folded without another,
// while a key the store or the state has is never taken for absent.
TEST(absent_markers, a_prefetch_reads_a_batch_once_and_hides_nothing_there) {
  counting_source store;
  ledger_state state(&store);
  state.remember_absent_markers();
  const auto stored = testing::usage_event(1);
  ASSERT_EQ(state.apply(stored), fold_outcome::applied);
  store.write(state);  // in the store
  const auto held = testing::usage_event(2);
  ASSERT_EQ(state.apply(held), fold_outcome::applied);  // in the state, not in the store
  const int reads_before = store.dedup_reads;
  std::vector<std::string> keys;
  for (int i = 1; i <= 10; ++i) keys.push_back("acme/" + testing::usage_event(i).id.str());
  state.prefetch_markers(keys);
  EXPECT_EQ(store.batched_reads, 1);
  EXPECT_TRUE(state.seen(acme, stored.id));
  EXPECT_TRUE(state.seen(acme, held.id));
  EXPECT_EQ(state.apply(stored), fold_outcome::duplicate);
  for (int i = 3; i <= 10; ++i) {
    const auto e = testing::usage_event(i);
    EXPECT_FALSE(state.seen(acme, e.id));
    EXPECT_EQ(state.apply(e), fold_outcome::applied);
  }
  // Only the stored event's checks read one by one (the memory holds what the store lacks).
  EXPECT_EQ(store.dedup_reads - reads_before, 2);
  store.write(state);
  state.prefetch_markers(keys);  // all ten are the state's or the store's now
  for (int i = 1; i <= 10; ++i) {
    EXPECT_EQ(state.apply(testing::usage_event(i)), fold_outcome::duplicate);
  }
}

TEST(absent_markers, totals_count_each_event_once) {
  counting_source store;
  ledger_state state(&store);
  state.remember_absent_markers();
  for (int i = 0; i < 100; ++i) {
    const auto e = testing::usage_event(i);
    ASSERT_FALSE(state.seen(acme, e.id));
    ASSERT_EQ(state.apply(e), fold_outcome::applied);
    if (i % 10 == 9) store.write(state);
    ASSERT_EQ(state.apply(testing::usage_event(i / 2)), fold_outcome::duplicate);
  }
  store.write(state);
  std::int64_t expected = 0;
  for (int i = 0; i < 100; ++i) expected += 1'000 + i;
  EXPECT_EQ(state.get_totals(totals_key("t/acme", window_month, "2026-11")).cost_nanos, expected);
}

}  // namespace
}  // namespace tally
