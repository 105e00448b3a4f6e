// Decodes the ledger records of a consumed batch on a helper thread, ahead of the owner thread
// that folds them in order. Decoding is pure and a fifth to a third of the fold's CPU; on two
// cores the owner is the critical path, so the helper takes it off that path.
//
// The batch is cut into chunks. The helper claims and decodes chunks front to back; when the
// owner asks for a record whose chunk nobody has claimed yet, it decodes that chunk itself, so a
// slow or descheduled helper never stalls the fold (it only stops helping). Small batches (an
// HTTP request's decisions folding back) are decoded by the owner alone: waking the helper would
// cost more than it saves.
//
// Thread-safety: start(), get() and finish() from one thread (the owner). The payloads given to
// start() must stay alive until finish() returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "schemas/events.h"

namespace tally {

class batch_decoder {
 public:
  using result = boost::system::result<std::vector<event>>;  // decode_ledger_record
  struct item {
    std::string_view payload;
    bool decode = false;  // a ledger record; the others are not touched
  };
  static constexpr std::size_t chunk_size = 32;
  static constexpr std::size_t helper_threshold = 128;  // fewer items: the owner decodes alone

  batch_decoder();
  ~batch_decoder();  // waits for the helper to leave the batch, then stops it
  batch_decoder(const batch_decoder&) = delete;
  batch_decoder& operator=(const batch_decoder&) = delete;

  // Begins a batch (after finish() of the previous one). items must outlive finish().
  void start(const std::vector<item>& items);
  // The decoded record i of the batch (only for items with decode set). Its chunk is decoded by
  // the helper (waited for if it is on it) or here. The result may be moved from.
  result& get(std::size_t i);
  // Returns once the helper has left the batch (or withdraws it, when the helper has not taken
  // it up yet): its items and payloads may then change or be freed.
  void finish();

  // Chunks decoded by the helper since construction (for tests and benchmarks).
  std::uint64_t helped_chunks() const { return helped_.load(std::memory_order_relaxed); }

 private:
  enum : std::uint32_t { unclaimed = 0, claimed = 1, done = 2 };
  void run();
  void decode_chunk(std::size_t c);
  bool claim(std::size_t c);

  const std::vector<item>* items_ = nullptr;
  std::vector<std::optional<result>> results_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> state_;
  std::size_t state_capacity_ = 0;
  std::size_t chunks_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool offered_ = false;  // a batch waits for the helper
  bool active_ = false;   // the helper is in a batch
  bool stop_ = false;
  std::atomic<std::uint64_t> helped_{0};
  std::thread thread_;
};

}  // namespace tally
