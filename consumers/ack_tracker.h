// Counts, per ledger partition, the records the owner handed to the producer and those the
// broker acknowledged (a record holds the events of one append). The owner folds its own
// decisions into its state as it makes them (write-through, projections/decide.h), so a
// WriteBatch may hold events that are not durable yet: the store writer writes it only once
// every record handed over before it was drained is.
// Delivery reports of a partition come in the order of production (the producer is
// idempotent), so "acknowledged >= n" means the first n are durable.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tally {

class ack_tracker {
 public:
  // Sets the partition count; counts start at zero. Before any produced().
  void resize(std::size_t partitions);
  // One more event handed to the producer for partition p.
  void produced(std::int32_t p);
  // The produced counts so far, by partition.
  std::vector<std::int64_t> produced_counts() const;
  // The delivery report of one event of partition p.
  void delivered(std::int32_t p, bool ok);
  // Blocks until every partition's acknowledged count reaches `target` (true), or a delivery
  // failed (false: what was folded with it must never be written).
  bool wait(const std::vector<std::int64_t>& target);
  bool failed() const;

 private:
  bool reached(const std::vector<std::int64_t>& target) const;  // with mu_ held

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::int64_t> produced_;
  std::vector<std::int64_t> acked_;
  bool failed_ = false;
  int waiters_ = 0;
};

}  // namespace tally
