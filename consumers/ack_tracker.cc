#include "consumers/ack_tracker.h"

namespace tally {

void ack_tracker::resize(std::size_t partitions) {
  std::lock_guard lock(mu_);
  produced_.resize(partitions, 0);
  acked_.resize(partitions, 0);
}

void ack_tracker::produced(std::int32_t p) {
  std::lock_guard lock(mu_);
  if (p >= 0 && static_cast<std::size_t>(p) < produced_.size()) ++produced_[p];
}

std::vector<std::int64_t> ack_tracker::produced_counts() const {
  std::lock_guard lock(mu_);
  return produced_;
}

void ack_tracker::delivered(std::int32_t p, bool ok) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!ok) failed_ = true;
    if (p >= 0 && static_cast<std::size_t>(p) < acked_.size() && ok) ++acked_[p];
    wake = waiters_ > 0;
  }
  if (wake) cv_.notify_all();
}

bool ack_tracker::reached(const std::vector<std::int64_t>& target) const {
  for (std::size_t p = 0; p < target.size() && p < acked_.size(); ++p) {
    if (acked_[p] < target[p]) return false;
  }
  return true;
}

bool ack_tracker::wait(const std::vector<std::int64_t>& target) {
  std::unique_lock lock(mu_);
  ++waiters_;
  cv_.wait(lock, [&] { return failed_ || reached(target); });
  --waiters_;
  return !failed_;
}

bool ack_tracker::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace tally
