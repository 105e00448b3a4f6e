// The partition owner: one consumer-group member that owns partitions of tally.ledger.v1 and
// the same-numbered partitions of tally.reports.v1 (range assignment co-partitions topics of
// equal partition counts). It folds the ledger into the store and decides raw reports into the
// ledger.
//
// Operation. On assignment, the ledger partitions start at the offset stored with the state
// (offset + 1 of the last folded record), and are folded up to the high watermark seen at
// assignment before the partition's reports are assigned: decisions are only made against a
// state that includes everything this or an earlier owner appended. A report's decision is
// folded (below) and appended to the ledger partition of the same number. The report offset is
// stored with the fold of the decision it caused (a report that caused no event moves it on by
// itself), and reaches the store only once the decision is durable in the log: a crash
// re-decides nothing twice (the fold deduplicates by event id) and loses nothing (a report
// whose offset the store lacks is read again).
//
// Write-through. The live view writes through (projections/decide.h): a decision's events are
// folded into the state as they are decided, and their records, when the fold reads them back
// from the log, are only recognised (by key and the id at the head of the value) and passed
// over, undecoded. The events of one append (a request's decisions for a team, or one report's
// decision) are one record: the event itself, or a CloudEvents batch of them (schemas/events.h),
// so an append of a hundred events costs one produce, one delivery report and one record read
// back. The store writer writes a batch only once every record handed to the producer before it
// was drained is acknowledged (ack_tracker.h), so the store never holds an event the log does
// not; a crash loses only what the store lacks, which the log has and the fold reads again (the
// dedup markers pass over what the store has).
//
// Concurrency. One mutex guards the state and the live view: the owner thread holds it while it
// folds and decides a consumed batch; the HTTP threads hold it while they decide a request or
// read (with_team / with_state), so every decision on this node is serial and made against the
// live state. The mutex is never held while waiting for Kafka, nor while an append is encoded
// and produced: appends go, in the order they were decided, to the append thread
// (ordered_worker.h), which encodes their records and hands them to the producer, so the thread
// that decided them goes on to the next request meanwhile. A flush's write waits until every
// append decided before its drain has been handed over and acknowledged. A failed append stops the
// owner (the state holds an event the log lacks; with_team refuses from then on): restarting reads
// the store and the log again (an HTTP caller was answered 503 and retries).
//
// Limitations. One store per node: global totals are exact when one node owns all partitions.
// Decisions carry epoch 0 until the group generation is exposed (librdkafka 2.0.2 does not).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "consumers/ack_tracker.h"
#include "consumers/batch_decoder.h"
#include "consumers/ledger_gateway.h"
#include "consumers/ordered_worker.h"
#include "consumers/store_writer.h"
#include "consumers/thread_priority.h"
#include "producers/producer.h"
#include "projections/decide.h"
#include "projections/store.h"

namespace tally {

struct owner_options {
  std::string brokers;                  // bootstrap servers
  std::string group_id = "tally";       // consumer group of the nodes
  std::string instance_id = "tally-1";  // static membership: stable per node
  std::string ledger_topic = "tally.ledger.v1";
  std::string reports_topic = "tally.reports.v1";
  int session_timeout_ms = 10'000;         // a dead node's partitions move after this
  int flush_every_events = 10'000;         // fold this many records per WriteBatch at most
  int flush_every_ms = 50;                 // or flush after this long
  bool decide_reports = true;              // subscribe to the reports topic too
  time_ms late_grace_ms = 7 * 86'400'000;  // reports older than this are refused
  time_ms future_skew_ms = 5 * 60'000;     // reports further ahead are refused
  // Nice levels below the process's CPU priority of the append thread and the store writer, so
  // the threads that decide come first for a core (consumers/thread_priority.h); 0: the same.
  int pipeline_nice = default_pipeline_nice;
  std::string source = "tally";  // CloudEvents source of decided events
  // Called on the store writer's thread once a WriteBatch that wrote outbox rows is committed
  // (the outbox publisher's notify); must not block.
  std::function<void()> after_outbox_flush;
  // Called on the store writer's thread once each WriteBatch that folded events is committed
  // (readers see the new state), with the events folded in it, duplicates left out: first those
  // read from the log, in log order, then those decided here, an append per call, in decision
  // order; must not block. It may move the events out (the live stream hub takes the ones it
  // streams). Unset: the fold keeps no copy.
  std::function<void(std::vector<event>&)> after_flush;
};

// Counters for /metrics and `inspect`; written by the owner thread, read anywhere.
struct owner_counters {
  std::atomic<std::uint64_t> folded{0};  // into the state (what reads see)
  std::atomic<std::uint64_t> stored{0};  // of those, the ones the store holds (batches written)
  std::atomic<std::uint64_t> fold_duplicates{0};
  // Ledger records decided here and read back: folded when decided, passed over undecoded.
  std::atomic<std::uint64_t> echoes{0};
  std::atomic<std::uint64_t> fold_skipped{0};  // undecodable ledger records
  std::atomic<std::uint64_t> reports_recorded{0};
  std::atomic<std::uint64_t> reports_rejected{0};
  std::atomic<std::uint64_t> reports_duplicate{0};
  std::atomic<std::uint64_t> reports_invalid{0};
  std::atomic<std::uint64_t> flushes{0};
  std::atomic<bool> caught_up{false};
  // Ledger records not folded yet, over the owned partitions (from the watermarks the fetches
  // bring back; refreshed about every 200 ms).
  std::atomic<std::int64_t> ledger_lag{0};
};

class partition_owner final : public ledger_gateway {
 public:
  partition_owner(owner_options options, ledger_store& store, producer& out,
                  const pricing_table& pricing, const limit_policy& policy);
  ~partition_owner() override;
  partition_owner(const partition_owner&) = delete;
  partition_owner& operator=(const partition_owner&) = delete;

  // Consumes until `stop` is set, then flushes and leaves the group. Throws std::runtime_error
  // when it cannot continue (store write failed, a ledger append failed).
  void run(const std::atomic<bool>& stop);

  const owner_counters& counters() const { return counters_; }

  // --- For the HTTP front-end -----------------------------------------------------------------
  // with_team: the node owns the team's ledger partition and has folded it up to the high
  // watermark seen at assignment (else not_owner; catching_up while it holds no partition at
  // all, before its first assignment or inside a rebalance). append: to the team's ledger
  // partition; done runs on the producer's thread.
  team_access with_team(const team_id& team, const std::function<void(live_view&)>& f) override;
  void with_state(const std::function<void(live_view&)>& f) override;
  void append(const team_id& team, std::vector<event> events, std::function<void(bool)> done,
              bool already_pending = false) override;
  bool ready() const override { return counters_.caught_up; }
  // The ledger partition of a team (murmur2 of the key, as the producer's partitioner).
  std::int32_t partition_of(const team_id& team) const;

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  void assigned(rd_kafka_topic_partition_list_t* parts);
  void revoked();
  void reassign();
  void consume(const std::atomic<bool>& stop);  // run() without its exception handling
  void fold_record(const rd_kafka_message_t* m, batch_decoder::result& ev);
  // A ledger record of events this node decided and wrote through: one event the live view's
  // echo() still remembers (by the record's key and the id at the head of its value), or a
  // batch in own_batches_ (its first event's key, its length and hash). Nothing to fold, the
  // offset moves on. False for anything else, which is decoded and folded (the live view
  // forgot its own events at a rebalance).
  bool echoed(const rd_kafka_message_t* m);
  void decide_record(const rd_kafka_message_t* m);
  // An event decided here was folded as it was decided (the live view's on_fold).
  void folded_here(const event& e, fold_outcome outcome);
  // The delivery reports of one append: the last calls its done.
  class append_sink;
  // Records of one append are at most this much text (librdkafka's and the broker's message
  // size limits are 1 MB); a larger append is cut into several.
  static constexpr std::size_t max_record_bytes = 256 * 1024;
  // Queues the events of one append (folded already) for the append thread, which produces them
  // after every append queued before; an append of one event when none is queued is produced at
  // once, on the calling thread. With mu_ held (so appends are queued in decision order).
  void enqueue_append(std::int32_t partition, std::vector<event> events,
                      std::function<void(bool)> done);
  // On the append thread (or the caller's, see enqueue_append): hands the (non-empty) events of one
  // append to the producer as few records as the size allows, in order: an append of one event as
  // the event alone (a structured CloudEvent with its ce_* headers), a longer one as CloudEvents
  // batches, so an append costs a produce, a delivery report and a record read back per record, not
  // per event. done gets whether every record was acknowledged. Takes own_mu_, never mu_ (the store
  // writer may wait for it while the owner thread holds mu_).
  void produce_events(std::int32_t partition, const std::vector<event>& events,
                      std::function<void(bool)> done);
  // value: the batch's JSON text, first its first event's.
  rd_kafka_resp_err_t produce_batch(std::int32_t partition, const event& first,
                                    std::string_view value, append_sink* sink);
  rd_kafka_resp_err_t produce_event(std::int32_t partition, const event& e, std::string_view text,
                                    append_sink* sink);
  // One record; a failure to enqueue is reported to sink as a failed delivery.
  rd_kafka_resp_err_t produce_record(std::int32_t partition, std::string_view key,
                                     std::string_view value, std::span<const header_view> headers,
                                     append_sink* sink);
  // Hands what was folded since the last flush to the store writer, as one WriteBatch with the
  // offsets; with wait, returns once it is written.
  void flush(bool wait = false);
  // Waits for the write in flight, then lets the state forget it and evicts clean rows.
  void retire();
  void stage_offsets();  // puts the folded offsets not yet in the state into its meta column

  struct partition {
    std::int64_t next_ledger = RD_KAFKA_OFFSET_BEGINNING;  // next ledger offset to fold
    std::int64_t target = 0;                               // high watermark at assignment
    bool caught_up = false;
    bool offset_dirty = false;  // next_ledger not yet put in the state's meta column
    bool reports_assigned = false;
    std::int64_t next_report = RD_KAFKA_OFFSET_BEGINNING;  // next report offset to decide
  };

  void passed(partition& p, const rd_kafka_message_t* m);  // the fold is past m
  partition* unfolded(const rd_kafka_message_t* m);  // m's partition, unless the fold is past m

  owner_options options_;
  mutable std::mutex mu_;  // guards everything below that the HTTP side reaches
  std::atomic<std::int32_t> partition_count_{0};
  ledger_store& store_;
  producer& out_;
  const pricing_table& pricing_;
  const limit_policy& policy_;
  ledger_state state_;
  live_view live_;
  owner_counters counters_;
  rd_kafka_t* rk_ = nullptr;
  std::map<std::int32_t, partition> partitions_;
  bool need_reassign_ = false;
  std::atomic<bool> append_failed_{false};
  ack_tracker acks_;
  std::uint64_t appended_ = 0;  // events queued for the log (each was written through)
  std::uint64_t appends_ = 0;   // appends queued for the log (the number of the last)
  // How each event written through since the last append folded (1: a duplicate), in order:
  // the append that follows carries exactly these events.
  std::vector<char> here_duplicates_;
  // For after_flush: the events of each append once produced (its number, the events that were
  // not duplicates), handed to the store writer's callback with the flush that holds them.
  std::mutex own_folded_mu_;
  std::deque<std::pair<std::uint64_t, std::vector<event>>> own_folded_;
  // After an append's events are produced: keeps them for after_flush (when set).
  void keep_for_after_flush(std::uint64_t append, std::vector<event> events,
                            std::vector<char> duplicates);
  int since_flush_ = 0;
  std::uint64_t unstored_ = 0;  // events folded since the last flush, duplicates left out
  std::vector<event> folded_;   // read from the log since the last flush, for after_flush
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_lag_ = std::chrono::steady_clock::now();
  void measure_lag();
  std::vector<batch_decoder::item> items_;  // the consumed batch, as the decoder sees it
  std::vector<char> own_;                   // by item: a ledger record this process appended
  // The batch records appended and not read back yet, by the dedup key of their first event:
  // their batch_print (length and hash). The append thread adds them: guarded by own_mu_ (taken
  // after mu_ when both are).
  std::mutex own_mu_;
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> own_batches_;
  static std::pair<std::size_t, std::size_t> batch_print(std::string_view value);
  // Encodes and produces the appends in the order they were decided; the store writer waits on
  // it, so it is destroyed after the writer (declared before it).
  ordered_worker appender_{"tally-append", options_.pipeline_nice};
  batch_decoder decoder_;  // decodes ledger records ahead of the fold (after items_: it reads them)
  store_writer writer_;    // last member: its thread stops before the rest is destroyed
};

}  // namespace tally
