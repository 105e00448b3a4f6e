#include "producers/producer.h"

#include <pthread.h>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace tally {
namespace {

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error("producer config " + k + ": " + err);
  }
}

}  // namespace

producer::producer(const producer_options& options) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", options.brokers);
  set(conf, "client.id", options.client_id);
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  set(conf, "linger.ms", std::to_string(options.linger_ms));
  set(conf, "partitioner", "murmur2_random");
  set(conf, "socket.nagle.disable", "true");
  set(conf, "batch.size", "1000000");
  // The ledger's JSON records shrink about 4x: the broker stores and serves a quarter of the
  // bytes, and the projector's fetches (one broker connection, request after request) bring
  // four times the records each. The fold is bound by those fetches without it.
  set(conf, "compression.type", options.compression);
  set(conf, "queue.buffering.max.messages", "1000000");
  for (auto& [k, v] : options.extra) set(conf, k, v);
  rd_kafka_conf_set_dr_msg_cb(conf, &producer::on_delivery);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk_) throw std::runtime_error(std::string("cannot create producer: ") + err);
  poller_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tally-delivery");
    while (!stop_.load(std::memory_order_relaxed)) rd_kafka_poll(rk_, 50);
  });
}

producer::~producer() {
  rd_kafka_flush(rk_, 10'000);
  stop_ = true;
  poller_.join();
  // Anything still queued gets its (failed) report before the handle goes.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
}

namespace {

// A delivery_fn as a sink of one record: deletes itself after its report.
class fn_sink final : public delivery_sink {
 public:
  explicit fn_sink(delivery_fn fn) : fn_(std::move(fn)) {}
  void delivered(const delivery& d) override {
    std::unique_ptr<fn_sink> self(this);
    if (fn_) fn_(d);
  }

 private:
  delivery_fn fn_;
};

// librdkafka's headers of a list of (name, value) pairs; null for none.
template <class Headers>
rd_kafka_headers_t* to_headers(const Headers& headers) {
  if (headers.empty()) return nullptr;
  rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
  for (auto& [k, v] : headers) {
    rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  }
  return hdrs;
}

}  // namespace

void producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<producer*>(opaque);
  delivery d{m->err, m->partition, m->offset};
  if (m->err) {
    self->failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("delivery to {} failed: {}", rd_kafka_topic_name(m->rkt),
                  rd_kafka_err2str(m->err));
  } else {
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
  }
  if (auto* sink = static_cast<delivery_sink*>(m->_private)) sink->delivered(d);
}

rd_kafka_resp_err_t producer::enqueue(std::string_view topic, std::int32_t partition,
                                      std::string_view key, std::string_view value,
                                      rd_kafka_headers_t* hdrs, delivery_sink* sink) {
  // librdkafka looks the topic up by a NUL-terminated name.
  char name[256];
  std::string long_name;
  const char* topic_name = name;
  if (topic.size() < sizeof name) {
    topic.copy(name, topic.size());
    name[topic.size()] = '\0';
  } else {
    long_name.assign(topic);
    topic_name = long_name.c_str();
  }
  for (;;) {
    rd_kafka_resp_err_t err;
    if (hdrs) {
      err = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic_name), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                              RD_KAFKA_V_OPAQUE(sink), RD_KAFKA_V_END);
    } else {
      err = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic_name), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(sink),
                              RD_KAFKA_V_END);
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // The poll thread drains delivery reports; wait for room.
      rd_kafka_flush(rk_, 10);
      continue;
    }
    // Not enqueued: ownership of the headers stays with us.
    if (err && hdrs) rd_kafka_headers_destroy(hdrs);
    return err;
  }
}

rd_kafka_resp_err_t producer::produce(std::string_view topic, std::int32_t partition,
                                      std::string_view key, std::string_view value,
                                      const header_list& headers, delivery_fn done) {
  rd_kafka_headers_t* hdrs = to_headers(headers);
  auto* sink = done ? new fn_sink(std::move(done)) : nullptr;
  auto err = enqueue(topic, partition, key, value, hdrs, sink);
  if (err) delete sink;
  return err;
}

rd_kafka_resp_err_t producer::produce(std::string_view topic, std::int32_t partition,
                                      std::string_view key, std::string_view value,
                                      std::span<const header_view> headers, delivery_sink* sink) {
  return enqueue(topic, partition, key, value, to_headers(headers), sink);
}

int producer::warm_topic(const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  if (!t) return 0;
  const rd_kafka_metadata_t* md = nullptr;
  int partitions = 0;
  if (!rd_kafka_metadata(rk_, 0, t, &md, timeout_ms) && md->topic_cnt == 1 && !md->topics[0].err) {
    partitions = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return partitions;
}

bool producer::flush(int timeout_ms) {
  return rd_kafka_flush(rk_, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::array<header_view, 6> cloudevent_header_views(std::string_view id, std::string_view type,
                                                   std::string_view source, std::string_view time) {
  return {{
      {"ce_specversion", "1.0"},
      {"ce_id", id},
      {"ce_type", type},
      {"ce_source", source},
      {"ce_time", time},
      {"content-type", "application/cloudevents+json; charset=UTF-8"},
  }};
}

header_list cloudevent_headers(std::string_view id, std::string_view type, std::string_view source,
                               std::string_view time) {
  header_list out;
  for (auto& [k, v] : cloudevent_header_views(id, type, source, time)) {
    out.emplace_back(std::string(k), std::string(v));
  }
  return out;
}

}  // namespace tally
