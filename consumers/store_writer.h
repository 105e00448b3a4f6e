// Writes the fold's WriteBatches on a thread of its own, one at a time, so the owner thread
// folds the next stretch of the log while RocksDB inserts the last one. The depth is one:
// submit() first waits for the write before it, so batches reach the store in order and at most
// one is in flight (its rows stay readable through the state's cache and in-flight overlay).
// Thread-safety: submit(), wait() and idle() from one thread (the owner); `done` runs on the
// writer's thread after each successful write.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "projections/ledger_state.h"
#include "projections/store.h"

namespace tally {

class store_writer {
 public:
  struct job {
    std::shared_ptr<const ledger_state::batch> batch;
    std::vector<event> folded;  // the events folded into it, duplicates left out
    // Run on the writer's thread once the WriteBatch is built, before it is written; it may
    // block (until what the batch holds is durable in the log) and throws when the batch must
    // never be written.
    std::function<void()> before_write;
    std::uint64_t events = 0;  // events folded into it (counted by the owner, duplicates left out)
    // The owner's appends decided before the drain (their events, written through, are handed to
    // `done` apart from folded).
    std::uint64_t appends = 0;
  };
  // nice: how many levels below the process's CPU priority the thread runs (thread_priority.h).
  store_writer(ledger_store& store, std::function<void(job&)> done, int nice = 0);
  ~store_writer();  // finishes the write in flight, then stops
  store_writer(const store_writer&) = delete;
  store_writer& operator=(const store_writer&) = delete;

  // Waits for the write in flight (throwing as wait() does), then hands j to the writer.
  void submit(job j);
  // Waits until no write is in flight. Throws std::runtime_error when a write failed: the fold
  // cannot go on (the state holds rows the store does not).
  void wait();
  // No write in flight (a failed one counts as finished: wait() reports it).
  bool idle() const;

 private:
  void run();

  ledger_store& store_;
  std::function<void(job&)> done_;
  const int nice_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<job> next_;  // submitted, not yet written
  bool busy_ = false;        // next_ is set or being written
  bool stop_ = false;
  std::string error_;  // the status of a failed write
  std::thread thread_;
};

}  // namespace tally
