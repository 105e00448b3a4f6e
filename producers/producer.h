// An idempotent librdkafka producer (acks=all, enable.idempotence=true) with delivery reports
// surfaced to the caller: every enqueued record ends in exactly one callback, success or error;
// nothing is dropped silently. A background thread serves the reports.
// Thread-safety: produce() and flush() may be called from any thread; callbacks run on the
// producer's poll thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace tally {

struct producer_options {
  std::string brokers;                       // bootstrap servers, "127.0.0.1:9092"
  std::string client_id = "tally";           // shown in broker logs
  int linger_ms = 5;                         // batching delay
  std::string compression = "lz4";           // compression.type of every record batch
  std::map<std::string, std::string> extra;  // any other librdkafka property
};

struct delivery {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

using delivery_fn = std::function<void(const delivery&)>;
using header_list = std::vector<std::pair<std::string, std::string>>;
using header_view = std::pair<std::string_view, std::string_view>;

// Receives the delivery reports of records it was given to (any number of them): one call per
// record, on the producer's poll thread. It must outlive its records' reports. Cheaper than a
// delivery_fn per record where many records share one receiver (a ledger append).
class delivery_sink {
 public:
  virtual void delivered(const delivery& d) = 0;

 protected:
  ~delivery_sink() = default;
};

class producer {
 public:
  // Throws std::runtime_error when the configuration is refused (cannot continue).
  explicit producer(const producer_options& options);
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  // Enqueues one record; partition -1 lets the partitioner (murmur2, as Java clients) choose by
  // key. Blocks while the local queue is full. `done` (optional) receives the delivery report.
  rd_kafka_resp_err_t produce(std::string_view topic, std::int32_t partition, std::string_view key,
                              std::string_view value, const header_list& headers = {},
                              delivery_fn done = {});
  // The same with headers that are only read during the call, the report going to `sink`
  // (optional).
  rd_kafka_resp_err_t produce(std::string_view topic, std::int32_t partition, std::string_view key,
                              std::string_view value, std::span<const header_view> headers,
                              delivery_sink* sink);

  // Learns a topic's partitions and their leaders now (one metadata request), so the first record
  // to it is not held while the client looks them up: without it, the first alert after a start
  // waited ~0.9 s. The number of partitions; 0 when the topic is unknown or the broker did not
  // answer within timeout_ms.
  int warm_topic(const std::string& topic, int timeout_ms);

  // Waits until every enqueued record has its delivery report; false on timeout.
  bool flush(int timeout_ms);

  std::uint64_t delivered() const { return delivered_.load(); }
  std::uint64_t failed() const { return failed_.load(); }
  rd_kafka_t* handle() const { return rk_; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  // Enqueues; takes hdrs (may be null) once enqueued, and the report goes to sink.
  rd_kafka_resp_err_t enqueue(std::string_view topic, std::int32_t partition, std::string_view key,
                              std::string_view value, rd_kafka_headers_t* hdrs,
                              delivery_sink* sink);

  rd_kafka_t* rk_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::thread poller_;
};

// The CloudEvents Kafka binding headers of a structured-mode event.
header_list cloudevent_headers(std::string_view id, std::string_view type, std::string_view source,
                               std::string_view time);
// The same as views of the arguments.
std::array<header_view, 6> cloudevent_header_views(std::string_view id, std::string_view type,
                                                   std::string_view source, std::string_view time);

}  // namespace tally
