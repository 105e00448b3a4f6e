// The alert delivery side of one `tally serve` node, assembled: the webhook registry (the
// control topic's subscription records read at start, the configuration's webhook entries), the
// dispatcher (its store under the node's data dir, retry schedule, timeout, private-target
// policy, email rules and SMTP relay from config.yaml's `alerts:` and `webhooks:`), and what the
// webhook endpoints reach. main() builds one beside the node's API.
// Subscriptions created, changed or disabled through another node reach this one through the
// control topic, which a thread of its own follows.
// Thread-safety: start() and stop() from the main thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/metrics.h"
#include "api/webhooks_api.h"
#include "consumers/alert_dispatcher.h"
#include "producers/producer.h"
#include "schemas/config.h"

namespace tally::api {

struct alert_delivery_options {
  std::string brokers;
  std::string control_topic = "tally.control.v1";
  std::string alerts_topic = "tally.alerts.v1";
  std::string dlq_topic = "tally.alerts.dlq.v1";
  std::string group_id = "tally-alerts";  // the dispatchers' consumer group
  std::string instance_id;
  std::string data_dir;  // the store goes to <data_dir>/deliveries
};

class alert_delivery {
 public:
  // `webhook_records`: the subscription records of the control topic (data JSON, log order).
  alert_delivery(alert_delivery_options options, producer& out, const tally_config& config,
                 const std::vector<std::string>& webhook_records);
  ~alert_delivery();

  void start();
  void stop();
  webhooks_api* api() { return &api_; }
  // The dispatcher's counters as tally_alert_* series.
  void add_metrics(metrics_registry& m) const;
  const alert_dispatcher& dispatcher() const { return *dispatcher_; }

 private:
  void publish(const webhook_subscription& s, std::function<void(bool)> done);
  void follow_control();

  alert_delivery_options options_;
  producer& out_;
  webhook_registry registry_;
  std::unique_ptr<alert_dispatcher> dispatcher_;
  webhooks_api api_;
  std::atomic<bool> stop_{false};
  std::thread follower_;
};

// The email rules of the configuration (enabled email entries with recipients), with ids
// derived from their content.
std::vector<email_rule> email_rules_of(const tally_config& config);

}  // namespace tally::api
