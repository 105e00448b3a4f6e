// The load generator's latency histogram (producers/loadgen/histogram.h), which every p50/p99
// figure in the README comes from: exact below 256 ns, within 1/128 above, percentiles by rank,
// and merging per-thread histograms gives what one histogram of every sample would.
#include "producers/loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace tally::loadgen {
namespace {

TEST(loadgen_histogram, small_values_are_exact_and_larger_ones_within_one_part_in_128) {
  for (std::uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(histogram::highest_of(histogram::index_of(v)), v);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t v = 256 + rng() % (std::uint64_t{1} << (8 + i % 32));
    const auto index = histogram::index_of(v);
    const auto high = histogram::highest_of(index);
    ASSERT_GE(high, v) << v;
    ASSERT_LE(high - v, v / 128) << v;  // the bucket's values are within 1/128 of each other
    ASSERT_EQ(histogram::index_of(high), index) << v;
    ASSERT_EQ(histogram::index_of(high + 1), index + 1) << v;  // buckets tile the range
  }
}

TEST(loadgen_histogram, percentiles_are_by_rank_and_clipped_to_the_maximum) {
  histogram h;
  EXPECT_EQ(h.percentile(0.5), 0u);
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1 us .. 1 ms
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500'500.0);
  // The 500th value is 500,000: the answer is the top of its bucket, at most 1/128 above.
  EXPECT_GE(h.percentile(0.5), 500'000u);
  EXPECT_LE(h.percentile(0.5), 500'000u + 500'000u / 128);
  EXPECT_GE(h.percentile(0.99), 990'000u);
  EXPECT_LE(h.percentile(0.99), 990'000u + 990'000u / 128);
  EXPECT_GE(h.percentile(0.25), 250'000u);
  EXPECT_LE(h.percentile(0.25), 250'000u + 250'000u / 128);
  EXPECT_EQ(h.percentile(1.0), 1'000'000u);  // never above what was seen
  EXPECT_LE(h.percentile(0.0), 1000u + 1000u / 128);
}

TEST(loadgen_histogram, merged_histograms_answer_as_one_of_every_sample) {
  std::mt19937_64 rng(11);
  histogram all, a, b;
  for (int i = 0; i < 50'000; ++i) {
    const std::uint64_t v = rng() % 50'000'000;
    all.record(v);
    (i % 3 == 0 ? a : b).record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(a.percentile(q), all.percentile(q)) << q;
  }
}

}  // namespace
}  // namespace tally::loadgen
