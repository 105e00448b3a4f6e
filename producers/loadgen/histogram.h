// A log-bucketed latency histogram in the manner of HdrHistogram: values (nanoseconds) below
// 2^(sub_bits+1) are counted exactly, larger ones in 2^sub_bits linear sub-buckets per power of
// two, so every recorded value is known to within 1/2^sub_bits (0.8 %). Fixed size (no
// allocation while recording), mergeable; not thread-safe (one per thread, merged at the end).
#pragma once

#include <array>
#include <cstdint>

namespace tally::loadgen {

class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  // 128
  static constexpr std::size_t bucket_count = 2 * sub_count + 56 * sub_count;

  void record(std::uint64_t v);
  void merge(const histogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  // The value below which a fraction q (0..1) of the samples lie: the highest value equivalent
  // to the bucket that holds the ceil(q * count)-th sample, clipped to the maximum seen.
  std::uint64_t percentile(double q) const;

  static std::size_t index_of(std::uint64_t v);
  static std::uint64_t highest_of(std::size_t index);

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
};

}  // namespace tally::loadgen
