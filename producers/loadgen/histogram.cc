#include "producers/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tally::loadgen {

std::size_t histogram::index_of(std::uint64_t v) {
  if (v < 2 * sub_count) return static_cast<std::size_t>(v);
  // v in [2^(m-1), 2^m) with m - 1 >= sub_bits + 1: keep the top sub_bits + 1 bits.
  const int m = std::bit_width(v);
  const int shift = m - 1 - sub_bits;                  // >= 1
  const std::uint64_t sub = (v >> shift) - sub_count;  // 0 .. sub_count - 1
  const std::size_t i = 2 * sub_count + std::size_t(shift - 1) * sub_count + sub;
  return std::min(i, bucket_count - 1);
}

std::uint64_t histogram::highest_of(std::size_t index) {
  if (index < 2 * sub_count) return index;
  const std::size_t rest = index - 2 * sub_count;
  const int shift = static_cast<int>(rest / sub_count) + 1;
  const std::uint64_t sub = rest % sub_count + sub_count;
  return ((sub + 1) << shift) - 1;
}

void histogram::record(std::uint64_t v) {
  ++buckets_[index_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void histogram::merge(const histogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, std::uint64_t(std::ceil(q * double(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(highest_of(i), max_);
  }
  return max_;
}

}  // namespace tally::loadgen
