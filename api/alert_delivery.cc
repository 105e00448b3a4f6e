#include "api/alert_delivery.h"

#include <chrono>
#include <cstdlib>

#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "consumers/control.h"
#include "schemas/sha256.h"

namespace tally::api {
namespace {

time_ms wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::vector<email_rule> email_rules_of(const tally_config& config) {
  std::vector<email_rule> out;
  for (auto& n : config.alerts.notifications) {
    if (n.type != "email" || !n.enabled || n.recipients.empty()) continue;
    email_rule r;
    r.recipients = n.recipients;
    r.team = n.team_id;
    r.min_level = n.min_level;
    std::string content = r.team + "\n" + r.min_level;
    for (auto& to : r.recipients) content += "\n" + to;
    r.id = "em_" + sha256_hex(content, 12);
    out.push_back(std::move(r));
  }
  return out;
}

alert_delivery::alert_delivery(alert_delivery_options options, producer& out,
                               const tally_config& config,
                               const std::vector<std::string>& webhook_records)
    : options_(std::move(options)), out_(out) {
  for (auto& data : webhook_records) {
    auto rec = decode_webhook_record(data);
    if (!rec) {
      spdlog::warn("control: a webhook record was refused");
      continue;
    }
    registry_.apply(*rec);
  }
  // The configuration's webhook entries are subscriptions too (not on the control topic).
  for (auto& n : config.alerts.notifications) {
    if (n.type != "webhook" || n.url.empty()) continue;
    webhook_subscription s;
    s.id = "wh_cfg_" + sha256_hex(n.url + "\n" + n.team_id + "\n" + n.min_level, 12);
    s.url = n.url;
    s.team = n.team_id;
    s.min_level = n.min_level;
    s.secret = n.secret;
    s.description = "config.yaml";
    s.enabled = n.enabled;
    s.version = 0;
    if (!s.secret.empty()) registry_.apply(s);
  }

  const auto& w = config.webhooks;
  dispatcher_options d;
  d.brokers = options_.brokers;
  d.alerts_topic = options_.alerts_topic;
  d.dlq_topic = options_.dlq_topic;
  d.group_id = options_.group_id;
  d.instance_id = options_.instance_id;
  d.path = options_.data_dir + "/deliveries";
  d.retry_schedule_ms = w.retry_schedule_ms;
  d.jitter_percent = w.jitter_percent;
  d.http.timeout_ms = static_cast<int>(w.timeout_ms);
  d.http.max_in_flight = w.max_in_flight;
  d.http.allow_private = w.allow_private_targets;
  d.email_rules = email_rules_of(config);
  if (config.alerts.email) d.relay = relay_of(*config.alerts.email);
  if (!d.email_rules.empty() && !d.relay) {
    spdlog::warn("alerts: email rules are configured but no relay (alerts.email.relay)");
  }
  dispatcher_ =
      std::make_unique<alert_dispatcher>(d, registry_, out_, [this](const webhook_subscription& s) {
        // Applied at once, so the subscription's other deliveries stop now; the record makes
        // it durable (should it be lost, the next 410 disables the subscription again).
        registry_.apply(s);
        spdlog::warn("webhook {} disabled: its receiver answered 410 Gone", s.id);
        publish(s, [id = s.id](bool ok) {
          if (!ok) spdlog::error("webhook {}: the disabled record was not published", id);
        });
      });

  api_.registry = &registry_;
  api_.publish = [this](const webhook_subscription& s, std::function<void(bool)> done) {
    publish(s, std::move(done));
  };
  api_.deliveries = &dispatcher_->store();
  api_.redeliver = [this](const std::string& t, const std::string& e) {
    return dispatcher_->redeliver(t, e);
  };
  api_.allow_private = w.allow_private_targets;
}

alert_delivery::~alert_delivery() {
  stop();
}

void alert_delivery::add_metrics(metrics_registry& m) const {
  const auto& c = dispatcher_->counters();
  m.add_counter("tally_alerts_consumed_total", "Alerts the dispatcher read from tally.alerts.v1",
                [&c] { return double(c.alerts_consumed.load()); });
  m.add_counter("tally_alert_deliveries_total{state=\"created\"}",
                "Alert deliveries (one per alert and webhook or email target)",
                [&c] { return double(c.deliveries_created.load()); });
  m.add_counter("tally_alert_deliveries_total{state=\"delivered\"}",
                "Alert deliveries (one per alert and webhook or email target)",
                [&c] { return double(c.delivered.load()); });
  m.add_counter("tally_alert_deliveries_total{state=\"dead\"}",
                "Alert deliveries (one per alert and webhook or email target)",
                [&c] { return double(c.dead.load()); });
  m.add_counter("tally_alert_deliveries_total{state=\"cancelled\"}",
                "Alert deliveries (one per alert and webhook or email target)",
                [&c] { return double(c.cancelled.load()); });
  m.add_counter("tally_alert_delivery_failures_total", "Failed delivery attempts (retried)",
                [&c] { return double(c.failed_attempts.load()); });
  m.add_gauge("tally_alert_deliveries_in_flight", "Delivery attempts under way",
              [&c] { return double(c.in_flight.load()); });
  m.add_gauge("tally_alert_partitions_assigned",
              "Alert partitions the dispatcher holds (-1: not yet assigned by its group)",
              [&c] { return double(c.partitions_assigned.load()); });
}

void alert_delivery::start() {
  dispatcher_->start();
  follower_ = std::thread([this] { follow_control(); });
}

void alert_delivery::stop() {
  stop_ = true;
  if (follower_.joinable()) follower_.join();
  if (dispatcher_) dispatcher_->stop();
}

void alert_delivery::follow_control() {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", options_.brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "tally-control-follower", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    spdlog::error("control follower: {}", err);
    return;
  }
  rd_kafka_poll_set_consumer(rk);
  // From the beginning (the topic is compacted and small): applying a record again is a no-op
  // (versions), and nothing published since the start-up read is missed.
  auto* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, options_.control_topic.c_str(), 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  simdjson::dom::parser parser;
  while (!stop_) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      spdlog::warn("control follower: {}", rd_kafka_message_errstr(m));
    } else if (!m->err) {
      simdjson::dom::element doc, data;
      std::string_view type;
      if (!parser.parse(static_cast<const char*>(m->payload), m->len).get(doc) &&
          !doc["type"].get(type) && type == webhook_event_type && !doc["data"].get(data)) {
        auto rec = decode_webhook_record(simdjson::minify(data));
        if (!rec) {
          spdlog::warn("control {}: a webhook record was refused", m->offset);
        } else if (registry_.apply(*rec)) {
          spdlog::info("control: webhook {} version {} applied", rec->id, rec->version);
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

void alert_delivery::publish(const webhook_subscription& s, std::function<void(bool)> done) {
  if (s.id.starts_with("wh_cfg_")) {  // the configuration's: not on the topic
    done(true);
    return;
  }
  const time_ms now = wall_ms();
  auto value =
      encode_control_event(webhook_event_type, "webhook-" + s.id + "-" + std::to_string(s.version),
                           now, encode_webhook_record(s));
  auto err = out_.produce(options_.control_topic, 0, "webhook/" + s.id, value,
                          cloudevent_headers("webhook-" + s.id + "-" + std::to_string(s.version),
                                             webhook_event_type, "tally", format_rfc3339(now)),
                          [done](const delivery& d) { done(!d.err); });
  if (err) done(false);
}

}  // namespace tally::api
