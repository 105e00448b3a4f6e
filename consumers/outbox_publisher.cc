#include "consumers/outbox_publisher.h"

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "consumers/watermarks.h"
#include "schemas/events.h"

namespace tally {

outbox_publisher::outbox_publisher(outbox_options options, ledger_store& store, producer& out)
    : options_(std::move(options)), store_(store), out_(out) {}

outbox_publisher::~outbox_publisher() {
  stop();
}

void outbox_publisher::start() {
  thread_ = std::thread([this] { run(); });
}

void outbox_publisher::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    notified_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void outbox_publisher::notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

std::unordered_set<std::string> outbox_publisher::published_ids(const std::string& brokers,
                                                                const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "tally-outbox-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("alerts reader: ") + err);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> guard(rk, rd_kafka_destroy);
  rd_kafka_poll_set_consumer(rk);

  int partitions = 0;
  {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    auto e = rd_kafka_metadata(rk, 0, t, &md, 10'000);
    if (!e && md->topic_cnt == 1 && !md->topics[0].err) partitions = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
  }
  if (partitions <= 0) throw std::runtime_error("cannot read the partitions of " + topic);
  std::map<std::int32_t, std::int64_t> end;  // partition -> high watermark
  auto* list = rd_kafka_topic_partition_list_new(partitions);
  for (std::int32_t p = 0; p < partitions; ++p) {
    std::int64_t lo = 0, hi = 0;
    if (auto e = query_watermarks(rk, topic.c_str(), p, &lo, &hi)) {
      rd_kafka_topic_partition_list_destroy(list);
      throw std::runtime_error(std::string("alerts watermarks: ") + rd_kafka_err2str(e));
    }
    if (hi > lo) {
      end[p] = hi;
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = lo;
    }
  }
  std::unordered_set<std::string> ids;
  if (!end.empty()) {
    rd_kafka_assign(rk, list);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!end.empty()) {
      if (std::chrono::steady_clock::now() > deadline) {
        rd_kafka_topic_partition_list_destroy(list);
        throw std::runtime_error("reading the alerts topic timed out");
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (!m->err) {
        auto ev = decode_event({static_cast<const char*>(m->payload), m->len});
        if (ev) ids.insert(ev->id.str());
        if (auto it = end.find(m->partition); it != end.end() && m->offset + 1 >= it->second) {
          end.erase(it);
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
  }
  rd_kafka_topic_partition_list_destroy(list);
  return ids;
}

bool outbox_publisher::publish_pass() {
  struct row {
    std::string key;
    std::string id;
    std::string value;
    std::string scope;
    std::string type, source, time;
  };
  std::vector<row> rows;
  std::vector<std::string> done;  // rows to delete
  store_.for_each(column::outbox, "", [&](std::string_view k, std::string_view v) {
    if (rows.size() >= options_.batch) return;
    auto ev = decode_event(v);
    if (!ev) {
      spdlog::warn("outbox {}: undecodable row dropped", k);
      done.emplace_back(k);
      return;
    }
    const alert_subject* s = std::get_if<budget_threshold_crossed>(&ev->payload);
    if (!s) s = std::get_if<budget_threshold_resolved>(&ev->payload);
    if (published_.contains(ev->id.str())) {
      counters_.already_published.fetch_add(1);
      done.emplace_back(k);
      return;
    }
    rows.push_back({std::string(k), ev->id.str(), std::string(v), s ? alert_scope_key(*s) : "",
                    std::string(event_type_name(ev->payload)), ev->source,
                    format_rfc3339(ev->time)});
  });
  struct waiting {
    std::mutex m;
    std::condition_variable cv;
    std::size_t left = 0;
    std::vector<char> ok;
  };
  auto w = std::make_shared<waiting>();
  w->left = rows.size();
  w->ok.assign(rows.size(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& r = rows[i];
    auto err =
        out_.produce(options_.alerts_topic, -1, r.scope, r.value,
                     cloudevent_headers(r.id, r.type, r.source, r.time), [w, i](const delivery& d) {
                       std::lock_guard lock(w->m);
                       w->ok[i] = d.err ? 0 : 1;
                       if (--w->left == 0) w->cv.notify_all();
                     });
    if (err) {
      std::lock_guard lock(w->m);
      if (--w->left == 0) w->cv.notify_all();
    }
  }
  bool all_ok = true;
  {
    std::unique_lock lock(w->m);
    if (!w->cv.wait_for(lock, std::chrono::seconds(60), [&] { return w->left == 0; })) {
      spdlog::warn("outbox: delivery reports late; retrying the batch later");
      all_ok = false;
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (w->ok[i]) {
        done.push_back(rows[i].key);
        published_.insert(rows[i].id);
        counters_.published.fetch_add(1);
      } else {
        all_ok = false;
        counters_.failed.fetch_add(1);
      }
    }
  }
  if (!done.empty()) {
    auto s = store_.erase(column::outbox, done);
    if (!s.ok()) spdlog::error("outbox: cannot clear published rows: {}", s.ToString());
  }
  // A full batch: there may be more.
  if (all_ok && rows.size() >= options_.batch) notify();
  return all_ok;
}

void outbox_publisher::run() {
  while (!stop_) {
    try {
      published_ = published_ids(options_.brokers, options_.alerts_topic);
      counters_.reconciled = true;
      break;
    } catch (const std::exception& e) {
      spdlog::warn("outbox: {}; retrying", e.what());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.retry_ms),
                   [&] { return stop_.load(); });
    }
  }
  while (counters_.reconciled) {
    const bool ok = publish_pass();
    std::unique_lock lock(mu_);
    if (stop_) break;
    if (!ok) {
      cv_.wait_for(lock, std::chrono::milliseconds(options_.retry_ms),
                   [&] { return stop_.load(); });
    } else {
      cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_ms), [&] { return notified_; });
    }
    notified_ = false;
  }
  // Last pass: what the final flush wrote.
  if (counters_.reconciled) publish_pass();
}

}  // namespace tally
