#include "consumers/batch_decoder.h"

#include <pthread.h>

#include <algorithm>

namespace tally {

batch_decoder::batch_decoder() : thread_([this] { run(); }) {}

batch_decoder::~batch_decoder() {
  finish();
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void batch_decoder::start(const std::vector<item>& items) {
  finish();  // the helper has left the previous batch
  items_ = &items;
  if (results_.size() < items.size()) results_.resize(items.size());
  chunks_ = (items.size() + chunk_size - 1) / chunk_size;
  if (state_capacity_ < chunks_) {
    state_ = std::make_unique<std::atomic<std::uint32_t>[]>(chunks_);
    state_capacity_ = chunks_;
  }
  for (std::size_t c = 0; c < chunks_; ++c) state_[c].store(unclaimed, std::memory_order_relaxed);
  if (items.size() < helper_threshold) return;
  {
    std::lock_guard lock(mu_);
    offered_ = true;
  }
  cv_.notify_one();
}

bool batch_decoder::claim(std::size_t c) {
  std::uint32_t expected = unclaimed;
  return state_[c].compare_exchange_strong(expected, claimed, std::memory_order_acq_rel);
}

void batch_decoder::decode_chunk(std::size_t c) {
  const auto& items = *items_;
  const std::size_t last = std::min(items.size(), (c + 1) * chunk_size);
  for (std::size_t i = c * chunk_size; i < last; ++i) {
    if (items[i].decode) {
      results_[i].emplace(decode_ledger_record(items[i].payload));
    } else {
      results_[i].reset();
    }
  }
  state_[c].store(done, std::memory_order_release);
}

batch_decoder::result& batch_decoder::get(std::size_t i) {
  const std::size_t c = i / chunk_size;
  if (state_[c].load(std::memory_order_acquire) != done) {
    if (claim(c)) {
      decode_chunk(c);
    } else {
      // The helper is on it: wait for its store (futex wait; it notifies each chunk).
      for (auto s = state_[c].load(std::memory_order_acquire); s != done;
           s = state_[c].load(std::memory_order_acquire)) {
        state_[c].wait(s, std::memory_order_acquire);
      }
    }
  }
  return *results_[i];
}

void batch_decoder::finish() {
  std::unique_lock lock(mu_);
  offered_ = false;
  cv_.wait(lock, [&] { return !active_; });
}

void batch_decoder::run() {
  pthread_setname_np(pthread_self(), "tally-decoder");
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || offered_; });
      if (!offered_) return;  // stopping
      offered_ = false;
      active_ = true;
    }
    for (std::size_t c = 0; c < chunks_; ++c) {
      if (!claim(c)) continue;  // the owner took it (it caught up with the helper)
      decode_chunk(c);
      state_[c].notify_all();
      helped_.fetch_add(1, std::memory_order_relaxed);
    }
    {
      std::lock_guard lock(mu_);
      active_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace tally
