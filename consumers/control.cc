#include "consumers/control.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "consumers/watermarks.h"
#include "schemas/events.h"
#include "schemas/sha256.h"

namespace tally {
namespace {

constexpr const char* pricing_type = "tally.pricing_published.v1";

time_ms wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void wait_acked(producer& out, const char* what) {
  if (!out.flush(30'000))
    throw std::runtime_error(std::string("publishing ") + what + " timed out");
}

// Polls the metadata until each topic has its partitions, every one with a leader. Returns ""
// or what was still missing at the deadline.
std::string wait_for_leaders(rd_kafka_t* rk, const std::vector<std::pair<std::string, int>>& want,
                             int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string missing;
  for (;;) {
    missing.clear();
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 5'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      missing = "metadata unavailable";
    } else {
      for (auto& [name, partitions] : want) {
        int led = 0;
        for (int i = 0; i < md->topic_cnt; ++i) {
          const auto& t = md->topics[i];
          if (name != t.topic || t.err) continue;
          for (int j = 0; j < t.partition_cnt; ++j) led += t.partitions[j].leader >= 0 ? 1 : 0;
        }
        if (led < partitions)
          missing += name + " has " + std::to_string(led) + " of " + std::to_string(partitions) +
                     " partitions led; ";
      }
      rd_kafka_metadata_destroy(md);
    }
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the broker's view
  }
}

}  // namespace

void ensure_topics(const std::string& brokers, const topic_names& topics, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("admin client: ") + err);

  struct spec {
    const std::string* name;
    int partitions;
    const char* cleanup;
  };
  std::vector<spec> specs = {{&topics.ledger, partitions, "delete"},
                             {&topics.reports, partitions, "delete"},
                             {&topics.control, 1, "compact"},
                             {&topics.alerts, partitions, "delete"},
                             {&topics.alerts_dlq, 1, "delete"}};
  std::vector<rd_kafka_NewTopic_t*> news;
  for (auto& s : specs) {
    auto* t = rd_kafka_NewTopic_new(s.name->c_str(), s.partitions, 1, err, sizeof err);
    rd_kafka_NewTopic_set_config(t, "cleanup.policy", s.cleanup);
    if (*s.name == topics.ledger) rd_kafka_NewTopic_set_config(t, "retention.ms", "-1");
    news.push_back(t);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30'000, err, sizeof err);
  rd_kafka_CreateTopics(rk, news.data(), news.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60'000);
  std::string failure;
  if (!ev) {
    failure = "CreateTopics timed out";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      auto e = rd_kafka_topic_result_error(res[i]);
      if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        failure += std::string(rd_kafka_topic_result_name(res[i])) + ": " +
                   rd_kafka_topic_result_error_string(res[i]) + "; ";
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(news.data(), news.size());
  rd_kafka_queue_destroy(q);
  // CreateTopics answers once the controller has the topics; the broker's metadata may show
  // them a moment later. A consumer that subscribes before then is assigned nothing until its
  // next metadata refresh (minutes), so wait until every partition has a leader.
  if (failure.empty()) {
    std::vector<std::pair<std::string, int>> want;
    for (auto& s : specs) want.emplace_back(*s.name, s.partitions);
    failure = wait_for_leaders(rk, want, 30'000);
  }
  rd_kafka_destroy(rk);
  if (!failure.empty()) throw std::runtime_error("creating topics: " + failure);
}

std::string encode_pricing_event(const price_version& v) {
  return std::string("{\"specversion\":\"1.0\",\"id\":\"pricing-") + v.id +
         "\",\"source\":\"tally\",\"type\":\"" + pricing_type + "\",\"time\":\"" +
         format_rfc3339(v.effective_from_ms) +
         "\",\"datacontenttype\":\"application/json\",\"data\":" + encode_price_version(v) + "}";
}

void publish_pricing(producer& out, const std::string& control_topic,
                     const std::vector<price_version>& versions) {
  for (auto v : versions) {
    if (v.id.empty()) v.id = derive_price_version_id(v);
    out.produce(control_topic, -1, "pricing/" + v.id, encode_pricing_event(v),
                cloudevent_headers("pricing-" + v.id, pricing_type, "tally",
                                   format_rfc3339(v.effective_from_ms)));
  }
  wait_acked(out, "pricing");
}

void publish_config_teams(producer& out, const std::string& ledger_topic,
                          const tally_config& config) {
  for (auto& [id, team] : config.teams) {
    event e;
    e.time = 0;
    e.payload = team_created{team_id{id}, team.name.empty() ? id : team.name, team.timezone};
    e.id = event_id{"team-" + id + "-" + sha256_hex(encode_event(e), 16)};
    e.time = wall_clock_ms();
    out.produce(ledger_topic, -1, id, encode_event(e),
                cloudevent_headers(e.id.str(), event_type_name(e.payload), e.source,
                                   format_rfc3339(e.time)));
  }
  wait_acked(out, "teams");
}

std::string encode_control_event(std::string_view type, std::string_view id, time_ms time,
                                 std::string_view data_json) {
  std::string out = "{\"specversion\":\"1.0\",\"id\":\"";
  out.append(id).append("\",\"source\":\"tally\",\"type\":\"").append(type);
  out.append("\",\"time\":\"").append(format_rfc3339(time));
  out.append("\",\"datacontenttype\":\"application/json\",\"data\":").append(data_json);
  out.push_back('}');
  return out;
}

pricing_table read_pricing(const std::string& brokers, const std::string& control_topic,
                           const std::function<void(std::string_view, std::string_view)>& other) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "tally-control-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("control reader: ") + err);
  rd_kafka_poll_set_consumer(rk);

  pricing_table table;
  std::int64_t lo = 0, hi = 0;
  auto e = query_watermarks(rk, control_topic.c_str(), 0, &lo, &hi);
  if (e) {
    rd_kafka_destroy(rk);
    throw std::runtime_error(std::string("control watermarks: ") + rd_kafka_err2str(e));
  }
  if (hi > lo) {
    auto* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, control_topic.c_str(), 0)->offset = lo;
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    simdjson::dom::parser parser;
    std::int64_t next = lo;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (next < hi) {
      if (std::chrono::steady_clock::now() > deadline) {
        rd_kafka_destroy(rk);
        throw std::runtime_error("reading the control topic timed out");
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (!m->err) {
        next = m->offset + 1;
        simdjson::dom::element doc;
        std::string_view type, data;
        if (!parser.parse(static_cast<const char*>(m->payload), m->len).get(doc) &&
            !doc["type"].get(type)) {
          simdjson::dom::element d;
          if (type == pricing_type) {
            if (!doc["data"].get(d)) {
              auto v = decode_price_version(simdjson::minify(d));
              if (v)
                table.add(*v);
              else
                spdlog::warn("control {}: bad price version", m->offset);
            }
          } else if (other && !doc["data"].get(d)) {
            other(type, simdjson::minify(d));
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
  }
  rd_kafka_destroy(rk);
  return table;
}

}  // namespace tally
