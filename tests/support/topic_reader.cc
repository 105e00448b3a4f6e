#include "tests/support/topic_reader.h"

#include <chrono>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

namespace tally::test {

std::vector<topic_record> read_topic(const std::string& brokers, const std::string& topic) {
  std::vector<topic_record> out;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "tests-topic-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    ADD_FAILURE() << err;
    return out;
  }
  rd_kafka_poll_set_consumer(rk);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  int partitions = 0;
  if (!rd_kafka_metadata(rk, 0, t, &md, 10'000) && md->topic_cnt == 1) {
    partitions = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  std::map<int, std::int64_t> end;
  auto* list = rd_kafka_topic_partition_list_new(partitions > 0 ? partitions : 1);
  for (int p = 0; p < partitions; ++p) {
    std::int64_t lo = 0, hi = 0;
    rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 10'000);
    if (hi > lo) {
      end[p] = hi;
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = lo;
    }
  }
  if (!end.empty()) {
    rd_kafka_assign(rk, list);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!end.empty() && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (!m->err) {
        topic_record r;
        r.partition = m->partition;
        r.offset = m->offset;
        if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* h = nullptr;
        if (!rd_kafka_message_headers(m, &h)) {
          const char* name = nullptr;
          const void* v = nullptr;
          size_t n = 0;
          for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &n); ++i) {
            r.headers[name] = v ? std::string(static_cast<const char*>(v), n) : std::string();
          }
        }
        out.push_back(std::move(r));
        if (auto it = end.find(m->partition); it != end.end() && m->offset + 1 >= it->second) {
          end.erase(it);
        }
      }
      rd_kafka_message_destroy(m);
    }
    EXPECT_TRUE(end.empty()) << "could not read " << topic << " to its end";
    rd_kafka_consumer_close(rk);
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace tally::test
