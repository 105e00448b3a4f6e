// The outbox publisher: publishes the alert events the fold wrote into the store's outbox
// column to tally.alerts.v1 (key = scope) with the node's idempotent producer, and deletes each
// row once Kafka acknowledged it.
//
// Operation. Before its first publish it reads the alerts topic from its beginning to its end
// and remembers the ids already there: a row published just before a crash (acknowledged, not
// yet deleted) and every row a `tally replay` wrote again are deleted unpublished, so each
// alert reaches the topic once. Then, on every notify() (the partition owner calls it after each
// store flush) or at least every second, it publishes the outbox in sequence order, in batches,
// waits for the delivery reports and deletes what was acknowledged; a failed delivery is retried
// on the next pass. Consumers still deduplicate by event id (the webhook id is the event id):
// the topic is at-least-once should the set of published ids ever be incomplete.
//
// Concurrency. One thread of its own; it touches only the outbox column, which the fold writes
// (new sequence numbers) and never reads, so it never blocks the fold. notify() may be called
// from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "producers/producer.h"
#include "projections/store.h"

namespace tally {

struct outbox_options {
  std::string brokers;  // bootstrap servers (to read the alerts topic)
  std::string alerts_topic = "tally.alerts.v1";
  std::size_t batch = 500;  // rows published per pass at most
  int idle_ms = 1000;       // look at the outbox this often without a notify
  int retry_ms = 1000;      // wait this long after a failed delivery
};

struct outbox_counters {
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> already_published{0};  // deleted without publishing
  std::atomic<std::uint64_t> failed{0};
  std::atomic<bool> reconciled{false};  // the topic's ids are known
};

class outbox_publisher {
 public:
  outbox_publisher(outbox_options options, ledger_store& store, producer& out);
  ~outbox_publisher();
  outbox_publisher(const outbox_publisher&) = delete;
  outbox_publisher& operator=(const outbox_publisher&) = delete;

  void start();
  // Publishes what is in the outbox now (best effort, bounded), then stops the thread.
  void stop();
  void notify();
  const outbox_counters& counters() const { return counters_; }

  // The ids of the events on a topic, read from its beginning to its end (all partitions).
  // Throws std::runtime_error when the topic cannot be read.
  static std::unordered_set<std::string> published_ids(const std::string& brokers,
                                                       const std::string& topic);

 private:
  void run();
  // One pass; false when a delivery failed.
  bool publish_pass();

  outbox_options options_;
  ledger_store& store_;
  producer& out_;
  outbox_counters counters_;
  std::unordered_set<std::string> published_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tally
