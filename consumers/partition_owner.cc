#include "consumers/partition_owner.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "consumers/watermarks.h"
#include "schemas/text_hash.h"

namespace tally {
namespace {

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error("consumer config " + k + ": " + err);
  }
}

time_ms wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr std::size_t max_cached_rows = 200'000;

std::string ledger_key(std::int32_t p) {
  return "ledger/" + std::to_string(p);
}
std::string reports_key(std::int32_t p) {
  return "reports/" + std::to_string(p);
}

}  // namespace

partition_owner::partition_owner(owner_options options, ledger_store& store, producer& out,
                                 const pricing_table& pricing, const limit_policy& policy)
    : options_(std::move(options)),
      store_(store),
      out_(out),
      pricing_(pricing),
      policy_(policy),
      state_(&store),
      live_(state_),
      writer_(
          store,
          [this](store_writer::job& j) {
            counters_.flushes.fetch_add(1, std::memory_order_relaxed);
            counters_.stored.fetch_add(j.events, std::memory_order_relaxed);
            if (options_.after_outbox_flush && j.batch->has_outbox) options_.after_outbox_flush();
            if (!options_.after_flush) return;
            if (!j.folded.empty()) options_.after_flush(j.folded);
            // Then the events decided here that the batch holds, an append at a time (not moved
            // into one vector first).
            std::deque<std::pair<std::uint64_t, std::vector<event>>> own;
            {
              std::lock_guard lock(own_folded_mu_);
              while (!own_folded_.empty() && own_folded_.front().first <= j.appends) {
                own.push_back(std::move(own_folded_.front()));
                own_folded_.pop_front();
              }
            }
            for (auto& [append, events] : own) {
              if (!events.empty()) options_.after_flush(events);
            }
          },
          options_.pipeline_nice) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", options_.brokers);
  set(conf, "group.id", options_.group_id);
  set(conf, "group.instance.id", options_.instance_id);
  set(conf, "client.id", options_.instance_id);
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.auto.offset.store", "false");
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "partition.assignment.strategy", "range");
  set(conf, "session.timeout.ms", std::to_string(options_.session_timeout_ms));
  set(conf, "heartbeat.interval.ms", std::to_string(options_.session_timeout_ms / 5));
  set(conf, "socket.nagle.disable", "true");
  set(conf, "fetch.wait.max.ms", "20");
  // Under load, a fetch waits for 256 KB (or the 20 ms above) instead of answering with each
  // produce: the broker serves a fraction of the requests and the owner folds and writes
  // larger batches. Measured at ~150k batched events/s: broker CPU per event -30 %, server -10 %.
  set(conf, "fetch.min.bytes", "262144");
  // Larger fetches: fewer broker round trips per folded event when catching up.
  set(conf, "max.partition.fetch.bytes", "4194304");
  set(conf, "isolation.level", "read_uncommitted");
  rd_kafka_conf_set_rebalance_cb(conf, &partition_owner::on_rebalance);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk_) throw std::runtime_error(std::string("cannot create consumer: ") + err);
  rd_kafka_poll_set_consumer(rk_);
  // The store gains dedup markers only from this state's drains (RocksDB's lock keeps other
  // writers out): a decision's lookup of its event id serves the fold of that event too.
  state_.remember_absent_markers();
  live_.write_through([this](const event& e, fold_outcome o) { folded_here(e, o); });
}

partition_owner::~partition_owner() {
  if (rk_) rd_kafka_destroy(rk_);
}

void partition_owner::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<partition_owner*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->assigned(parts);
  } else {
    self->revoked();
  }
}

void partition_owner::assigned(rd_kafka_topic_partition_list_t* parts) {
  std::lock_guard lock(mu_);
  if (partition_count_ == 0) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, options_.ledger_topic.c_str(), nullptr);
    auto e = rd_kafka_metadata(rk_, 0, t, &md, 10'000);
    if (!e && md->topic_cnt == 1) partition_count_ = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (partition_count_ == 0) throw std::runtime_error("cannot read the ledger's partition count");
    acks_.resize(static_cast<std::size_t>(partition_count_.load()));
  }
  stage_offsets();
  partitions_.clear();
  live_.clear_pending();
  {
    std::lock_guard own(own_mu_);
    own_batches_.clear();
  }
  for (int i = 0; i < parts->cnt; ++i) {
    auto& tp = parts->elems[i];
    if (options_.ledger_topic != tp.topic) continue;
    partition p;
    if (auto next = state_.meta_i64(ledger_key(tp.partition))) p.next_ledger = *next;
    std::int64_t lo = 0, hi = 0;
    auto e = query_watermarks(rk_, tp.topic, tp.partition, &lo, &hi);
    if (e) throw std::runtime_error(std::string("watermarks: ") + rd_kafka_err2str(e));
    p.target = hi;
    std::int64_t from = p.next_ledger == RD_KAFKA_OFFSET_BEGINNING ? lo : p.next_ledger;
    p.caught_up = from >= hi;
    if (auto r = state_.meta_i64(reports_key(tp.partition))) p.next_report = *r + 1;
    partitions_[tp.partition] = p;
  }
  spdlog::info("assigned {} ledger partitions", partitions_.size());
  reassign();
}

void partition_owner::reassign() {
  need_reassign_ = false;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size() * 2));
  bool all = true;
  for (auto& [n, p] : partitions_) {
    rd_kafka_topic_partition_list_add(list, options_.ledger_topic.c_str(), n)->offset =
        p.next_ledger;
    if (options_.decide_reports && p.caught_up) {
      rd_kafka_topic_partition_list_add(list, options_.reports_topic.c_str(), n)->offset =
          p.next_report;
      p.reports_assigned = true;
    }
    all = all && p.caught_up;
  }
  auto err = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));
  counters_.caught_up = all;
}

void partition_owner::revoked() {
  std::unique_lock lock(mu_);
  flush();
  live_.clear_pending();
  {
    std::lock_guard own(own_mu_);
    own_batches_.clear();
  }
  partitions_.clear();
  counters_.caught_up = false;
  // The last write waits for its acks: without the lock, so reads go on meanwhile (nothing is
  // decided here any more).
  lock.unlock();
  writer_.wait();
  lock.lock();
  retire();
  rd_kafka_assign(rk_, nullptr);
}

partition_owner::partition* partition_owner::unfolded(const rd_kafka_message_t* m) {
  auto it = partitions_.find(m->partition);
  if (it == partitions_.end()) return nullptr;
  auto& p = it->second;
  if (p.next_ledger != RD_KAFKA_OFFSET_BEGINNING && m->offset < p.next_ledger) return nullptr;
  return &p;
}

void partition_owner::fold_record(const rd_kafka_message_t* m, batch_decoder::result& events) {
  auto* pp = unfolded(m);
  if (!pp) return;
  auto& p = *pp;
  if (!events) {
    counters_.fold_skipped.fetch_add(1, std::memory_order_relaxed);
    state_.add_meta_i64("skipped/" + events.error().message(), 1);
    spdlog::warn("ledger {}@{}: skipped record: {}", m->partition, m->offset,
                 events.error().message());
  } else {
    for (auto& e : *events) {
      // Decided here: folded when it was decided (write-through).
      if (live_.echo(e)) continue;
      auto outcome = state_.apply(e);
      if (outcome == fold_outcome::duplicate) {
        counters_.fold_duplicates.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_.folded.fetch_add(1, std::memory_order_relaxed);
        ++unstored_;
      }
      if (outcome != fold_outcome::duplicate && options_.after_flush) {
        folded_.push_back(std::move(e));
      }
    }
  }
  passed(p, m);
}

void partition_owner::passed(partition& p, const rd_kafka_message_t* m) {
  p.next_ledger = m->offset + 1;
  // The offset is written with the state at the next flush (same batch, same value as writing
  // it per record).
  p.offset_dirty = true;
  if (!p.caught_up && p.next_ledger >= p.target) {
    p.caught_up = true;
    need_reassign_ = true;
  }
  ++since_flush_;
}

std::pair<std::size_t, std::size_t> partition_owner::batch_print(std::string_view value) {
  return {value.size(), text_hash(value)};
}

bool partition_owner::echoed(const rd_kafka_message_t* m) {
  if (!m->key) return false;
  const std::string_view key(static_cast<const char*>(m->key), m->key_len);
  const std::string_view value(static_cast<const char*>(m->payload), m->len);
  if (value.starts_with('[')) {
    // Its first event's key finds it; its length and hash tell it from another writer's batch
    // that starts with the same event (whose other events must still be folded).
    const auto first = encoded_batch_first_id(value);
    if (!first) return false;
    const auto k = ledger_state::dedup_key(key, *first);
    std::lock_guard own(own_mu_);
    auto it = own_batches_.find(k);
    if (it == own_batches_.end() || it->second != batch_print(value)) return false;
    own_batches_.erase(it);
    return true;
  }
  const auto id = encoded_event_id(value);
  return id && live_.echo(key, *id);
}

void partition_owner::folded_here(const event&, fold_outcome outcome) {
  const bool duplicate = outcome == fold_outcome::duplicate;
  if (duplicate) {
    counters_.fold_duplicates.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.folded.fetch_add(1, std::memory_order_relaxed);
    ++unstored_;
  }
  // The event itself reaches after_flush with its append (keep_for_after_flush): no copy here.
  if (options_.after_flush) here_duplicates_.push_back(duplicate);
  ++since_flush_;
}

void partition_owner::keep_for_after_flush(std::uint64_t append, std::vector<event> events,
                                           std::vector<char> duplicates) {
  if (!options_.after_flush) return;
  // duplicates holds one entry per event (the append carries what was written through since
  // the one before); an event that folded as a duplicate changed nothing and is left out.
  if (duplicates.size() == events.size()) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (duplicates[i]) continue;
      if (kept != i) events[kept] = std::move(events[i]);
      ++kept;
    }
    events.resize(kept);
  }
  std::lock_guard lock(own_folded_mu_);
  own_folded_.emplace_back(append, std::move(events));
}

// Each report tells the ack tracker; the last one calls done and frees the sink. A record that
// was not enqueued is reported here as failed, by produce_event.
class partition_owner::append_sink final : public delivery_sink {
 public:
  append_sink(partition_owner& owner, std::int32_t partition, std::size_t records,
              std::function<void(bool)> done)
      : owner_(owner),
        partition_(partition),
        left_(static_cast<std::int64_t>(records)),
        done_(std::move(done)) {}

  void delivered(const delivery& d) override {
    if (d.err) {
      owner_.append_failed_ = true;
      ok_ = false;
    }
    owner_.acks_.delivered(partition_, !d.err);
    if (left_.fetch_sub(1) == 1) {
      std::unique_ptr<append_sink> self(this);
      if (done_) done_(ok_);
    }
  }

 private:
  partition_owner& owner_;
  const std::int32_t partition_;
  std::atomic<std::int64_t> left_;
  std::atomic<bool> ok_{true};
  std::function<void(bool)> done_;
};

void partition_owner::enqueue_append(std::int32_t partition, std::vector<event> events,
                                     std::function<void(bool)> done) {
  appended_ += events.size();
  const auto append = ++appends_;
  std::vector<char> duplicates;
  duplicates.swap(here_duplicates_);  // how these very events folded
  if (events.size() == 1) {
    // One event is a record of its own, which the live view knows again by its id (a batch
    // record is known by its print, once encoded).
    live_.expect_echo(event_team(events[0]).str(), events[0].id.str());
    // Cheap to encode: produced here when no append waits before it (appends are posted only
    // under mu_, so none can come between), which spares a single report a thread hop.
    if (appender_.idle()) {
      produce_events(partition, events, std::move(done));
      keep_for_after_flush(append, std::move(events), std::move(duplicates));
      return;
    }
  }
  appender_.post([this, partition, append, events = std::move(events),
                  duplicates = std::move(duplicates), done = std::move(done)]() mutable {
    produce_events(partition, events, std::move(done));
    keep_for_after_flush(append, std::move(events), std::move(duplicates));
  });
}

void partition_owner::produce_events(std::int32_t partition, const std::vector<event>& events,
                                     std::function<void(bool)> done) {
  if (events.empty()) {
    if (done) done(true);
    return;
  }
  // The events' texts in one buffer, as the elements of a batch: '[' e0 ',' e1 ... (each text
  // is [starts[i], ends[i])).
  std::string all;
  all.reserve(events.size() * 700 + 2);
  std::vector<std::size_t> starts(events.size()), ends(events.size());
  all.push_back('[');
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) all.push_back(',');
    starts[i] = all.size();
    append_event(all, events[i]);
    ends[i] = all.size();
  }
  // Cut into records of at most max_record_bytes of text (librdkafka's and the broker's message
  // size limits are 1 MB), each the one event or a batch of them.
  std::vector<std::pair<std::size_t, std::size_t>> records;  // [begin, end) of events
  std::size_t begin = 0, bytes = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::size_t size = ends[i] - starts[i];
    if (i > begin && bytes + size + 1 > max_record_bytes) {
      records.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += size + 1;
  }
  records.emplace_back(begin, events.size());
  auto* sink = new append_sink(*this, partition, records.size(), std::move(done));
  std::string part;
  for (std::size_t r = 0; r < records.size(); ++r) {
    const auto [b, e] = records[r];
    rd_kafka_resp_err_t err;
    if (events.size() == 1) {
      // A record of one event alone only for an append of one (its id is expected already); a
      // longer append's records are batches, even of one, known by their print.
      err = produce_event(partition, events[b],
                          std::string_view(all).substr(starts[b], ends[b] - starts[b]), sink);
    } else if (records.size() == 1) {
      all.push_back(']');
      err = produce_batch(partition, events[b], all, sink);
    } else {
      part.assign(1, '[');
      part.append(all, starts[b], ends[e - 1] - starts[b]);
      part.push_back(']');
      err = produce_batch(partition, events[b], part, sink);
    }
    if (err) {
      // The sink still waits for the records not handed over: they fail too.
      for (std::size_t k = r + 1; k < records.size(); ++k) sink->delivered({err, partition, -1});
      return;
    }
  }
}

rd_kafka_resp_err_t partition_owner::produce_batch(std::int32_t partition, const event& first,
                                                   std::string_view value, append_sink* sink) {
  // One record, a CloudEvents batch: one produce, one delivery report and one record to read
  // back for all of them. Known again by its first event's id, length and hash (the live
  // view's echo set is for single-event records).
  const auto& team = event_team(first).str();
  auto key = ledger_state::dedup_key(team, first.id.str());
  const auto print = batch_print(value);
  {
    std::lock_guard own(own_mu_);
    own_batches_[std::move(key)] = print;
  }
  const header_view headers[] = {{"content-type", event_batch_content_type}};
  return produce_record(partition, team, value, headers, sink);
}

rd_kafka_resp_err_t partition_owner::produce_event(std::int32_t partition, const event& e,
                                                   std::string_view text, append_sink* sink) {
  const std::string time = format_rfc3339(e.time);
  const auto headers =
      cloudevent_header_views(e.id.str(), event_type_name(e.payload), e.source, time);
  return produce_record(partition, event_team(e).str(), text, headers, sink);
}

rd_kafka_resp_err_t partition_owner::produce_record(std::int32_t partition, std::string_view key,
                                                    std::string_view value,
                                                    std::span<const header_view> headers,
                                                    append_sink* sink) {
  auto err = out_.produce(options_.ledger_topic, partition, key, value, headers, sink);
  if (err) {
    // Not enqueued: the state holds events the log will not. The owner stops.
    sink->delivered({err, partition, -1});
  } else {
    acks_.produced(partition);
  }
  return err;
}

void partition_owner::decide_record(const rd_kafka_message_t* m) {
  auto it = partitions_.find(m->partition);
  if (it == partitions_.end() || !it->second.reports_assigned) return;
  auto& p = it->second;
  if (p.next_report != RD_KAFKA_OFFSET_BEGINNING && m->offset < p.next_report) return;
  p.next_report = m->offset + 1;

  std::string_view value(static_cast<const char*>(m->payload), m->len);
  auto report = decode_usage_report(value);
  decision d;
  if (report) {
    if (!report->occurred_at) {
      rd_kafka_timestamp_type_t type;
      auto ts = rd_kafka_message_timestamp(m, &type);
      if (ts >= 0) report->occurred_at = ts;
    }
    decide_context ctx;
    ctx.pricing = &pricing_;
    ctx.policy = &policy_;
    ctx.now = wall_clock_ms();
    ctx.late_grace_ms = options_.late_grace_ms;
    ctx.future_skew_ms = options_.future_skew_ms;
    ctx.source = options_.source;
    d = decide_usage(live_, ctx, *report, report_ref{m->partition, m->offset});
  } else {
    d.reason = "bad_report";
  }
  switch (d.what) {
    case verdict::recorded:
      counters_.reports_recorded.fetch_add(1);
      break;
    case verdict::rejected:
      counters_.reports_rejected.fetch_add(1);
      break;
    case verdict::duplicate:
      counters_.reports_duplicate.fetch_add(1);
      break;
    case verdict::invalid:
      counters_.reports_invalid.fetch_add(1);
      break;
  }
  if (d.events.empty()) {
    // Done with no event (a duplicate, an invalid report): the report offset moves on in the
    // state, written with everything decided before it once that is durable.
    if (d.what == verdict::invalid) state_.add_meta_i64("skipped/report:" + d.reason, 1);
    state_.report_done(m->partition, m->offset);
    ++since_flush_;
    return;
  }
  // Folded as decided (the fold of a decision stores its report offset), then appended; a
  // failed append stops the owner at its next batch.
  for (auto& e : d.events) live_.add_pending(e);
  enqueue_append(m->partition, std::move(d.events), nullptr);
}

void partition_owner::stage_offsets() {
  for (auto& [n, p] : partitions_) {
    if (!p.offset_dirty) continue;
    state_.set_meta_i64(ledger_key(n), p.next_ledger);
    p.offset_dirty = false;
  }
}

void partition_owner::flush(bool wait) {
  stage_offsets();
  // The batch before this one is written first: batches reach the store in log order, and
  // the rows it left clean in the cache may be evicted once the store has them.
  retire();
  if (state_.dirty_count() > 0) {
    // Written once every append decided so far is handed to the producer and durable: the
    // batch may hold events folded as they were decided (write-through).
    const auto queued = appender_.posted();
    auto durable = [this, queued] {
      appender_.wait_until(queued);
      if (!acks_.wait(acks_.produced_counts())) {
        throw std::runtime_error("a ledger append failed: the batch holding it is not written");
      }
    };
    writer_.submit(
        {state_.drain_batch(), std::move(folded_), std::move(durable), unstored_, appends_});
    unstored_ = 0;
  }
  folded_.clear();
  since_flush_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
  if (wait) retire();
}

void partition_owner::retire() {
  writer_.wait();
  state_.retire_in_flight();
  // Keep memory bounded: the store holds everything written. The hot rows stay cached until
  // the cache outgrows its bound (re-reading them every flush costs more than the fold).
  state_.evict_clean_over(max_cached_rows);
}

void partition_owner::run(const std::atomic<bool>& stop) {
  try {
    consume(stop);
  } catch (...) {
    // No callback may run once run() is left (what they reach may be gone): the write in
    // flight finishes, or fails, first; the decoder's helper leaves the batch it was on.
    decoder_.finish();
    try {
      writer_.wait();
    } catch (const std::exception& e) {
      spdlog::error("store write: {}", e.what());
    }
    throw;
  }
}

void partition_owner::consume(const std::atomic<bool>& stop) {
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(topics, options_.ledger_topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (options_.decide_reports) {
    rd_kafka_topic_partition_list_add(topics, options_.reports_topic.c_str(),
                                      RD_KAFKA_PARTITION_UA);
  }
  auto err = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) throw std::runtime_error(std::string("subscribe: ") + rd_kafka_err2str(err));

  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk_);
  std::vector<rd_kafka_message_t*> batch(2000);
  while (!stop.load(std::memory_order_relaxed)) {
    if (append_failed_) throw std::runtime_error("a ledger append failed; restart to re-decide");
    auto n = rd_kafka_consume_batch_queue(queue, 20, batch.data(), batch.size());
    // This node's own records are recognised first (under the lock: the live view remembers
    // its single events, own_batches_ its batches); the other ledger records are decoded ahead
    // of the fold (by the decoder's helper for a large batch), which touches nothing of the state.
    items_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    own_.assign(items_.size(), 0);
    std::unique_lock lock(mu_);
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = batch[i];
      const bool ledger = !m->err && options_.ledger_topic == rd_kafka_topic_name(m->rkt);
      own_[i] = ledger && echoed(m);
      const bool decode = ledger && !own_[i];
      items_[i] = {std::string_view(static_cast<const char*>(m->payload), decode ? m->len : 0),
                   decode};
    }
    lock.unlock();
    decoder_.start(items_);
    lock.lock();
    for (ssize_t i = 0; i < n; ++i) {
      // Let waiting HTTP threads in between stretches of the batch.
      if (i > 0 && i % 256 == 0) {
        lock.unlock();
        lock.lock();
      }
      rd_kafka_message_t* m = batch[i];
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          spdlog::warn("consumer: {}", rd_kafka_message_errstr(m));
        }
      } else if (own_[i]) {
        // Written through when it was decided: only the offset moves on.
        if (auto* p = unfolded(m)) {
          counters_.echoes.fetch_add(1, std::memory_order_relaxed);
          passed(*p, m);
        }
      } else if (items_[i].decode) {
        fold_record(m, decoder_.get(static_cast<std::size_t>(i)));
      } else {
        decide_record(m);
      }
      rd_kafka_message_destroy(m);
    }
    decoder_.finish();  // the helper has left the batch before items_ changes
    const bool due = since_flush_ >= options_.flush_every_events ||
                     (since_flush_ > 0 && std::chrono::steady_clock::now() - last_flush_ >=
                                              std::chrono::milliseconds(options_.flush_every_ms));
    if (due || need_reassign_) {
      // The write before may still wait for acks: wait for it without the lock, so decisions
      // and reads go on meanwhile (only this thread submits: it stays finished).
      lock.unlock();
      writer_.wait();
      lock.lock();
      flush();
    }
    if (need_reassign_) reassign();
    if (std::chrono::steady_clock::now() - last_lag_ >= std::chrono::milliseconds(200)) {
      measure_lag();
    }
  }
  rd_kafka_queue_destroy(queue);
  {
    std::lock_guard lock(mu_);
    flush(true);
  }
  rd_kafka_consumer_close(rk_);
  std::lock_guard lock(mu_);
  flush(true);
}

void partition_owner::measure_lag() {
  last_lag_ = std::chrono::steady_clock::now();
  std::int64_t lag = 0;
  for (auto& [n, p] : partitions_) {
    std::int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(rk_, options_.ledger_topic.c_str(), n, &lo, &hi)) continue;
    const std::int64_t next = p.next_ledger == RD_KAFKA_OFFSET_BEGINNING ? lo : p.next_ledger;
    if (hi > next) lag += hi - next;
  }
  counters_.ledger_lag = lag;
}

std::int32_t partition_owner::partition_of(const team_id& team) const {
  const auto n = partition_count_.load();
  if (n <= 0) return -1;
  const auto& k = team.str();
  return rd_kafka_msg_partitioner_murmur2(nullptr, k.data(), k.size(), n, nullptr, nullptr);
}

team_access partition_owner::with_team(const team_id& team,
                                       const std::function<void(live_view&)>& f) {
  std::lock_guard lock(mu_);
  const auto p = partition_of(team);
  auto it = partitions_.find(p);
  // Holding no partition at all, the node is before its first assignment or inside a rebalance:
  // it cannot tell that another node owns the team (it may be this one in a moment).
  if (it == partitions_.end()) {
    return partitions_.empty() ? team_access::catching_up : team_access::not_owner;
  }
  // A failed append left the state with an event the log lacks: the owner is stopping.
  if (!it->second.caught_up || append_failed_) return team_access::catching_up;
  // Every event f folds into the state (write-through) must reach the producer too, or the
  // state holds one the log never gets: then the owner stops as for a failed append.
  struct check {
    partition_owner& self;
    std::uint64_t written, appended;
    ~check() {
      const auto w = self.live_.written_count() - written;
      const auto a = self.appended_ - appended;
      if (w > a) {
        spdlog::error("{} decided events were not appended; stopping", w - a);
        self.append_failed_ = true;
      }
    }
  } c{*this, live_.written_count(), appended_};
  f(live_);
  return team_access::ok;
}

void partition_owner::with_state(const std::function<void(live_view&)>& f) {
  std::lock_guard lock(mu_);
  f(live_);
}

void partition_owner::append(const team_id& team, std::vector<event> events,
                             std::function<void(bool)> done, bool already_pending) {
  // Called with mu_ held (inside with_team).
  if (events.empty()) {
    if (done) done(true);
    return;
  }
  // Folded first (write-through); a failed append stops the owner, the state being wrong.
  if (!already_pending) {
    for (auto& e : events) live_.add_pending(e);
  }
  enqueue_append(partition_of(team), std::move(events), std::move(done));
}

}  // namespace tally
