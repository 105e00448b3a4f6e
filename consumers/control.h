// Topics and the control plane: creating Tally's topics, publishing configuration as control
// events (pricing versions on tally.control.v1, teams from config.yaml as TeamCreated on the
// ledger) and reading the control topic into a pricing table.
// Thread-safety: free functions; each creates and destroys its own Kafka handles.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "producers/producer.h"
#include "schemas/config.h"
#include "schemas/event_time.h"
#include "schemas/pricing.h"

namespace tally {

struct topic_names {
  std::string ledger = "tally.ledger.v1";
  std::string reports = "tally.reports.v1";
  std::string control = "tally.control.v1";
  std::string alerts = "tally.alerts.v1";
  std::string alerts_dlq = "tally.alerts.dlq.v1";
};

// Creates the topics that do not exist yet: ledger, reports and alerts with `partitions`
// partitions each (ledger and reports must match: a team's reports and ledger share a partition
// number), control and the alerts' dead letters with one. Throws std::runtime_error when the
// broker refuses.
void ensure_topics(const std::string& brokers, const topic_names& topics, int partitions);

// The control event of a price version: a CloudEvent of type tally.pricing_published.v1 whose
// data is encode_price_version(v). `v.id` must be set.
std::string encode_pricing_event(const price_version& v);

// Publishes each price version (key "pricing/<id>") and waits for the acknowledgements.
void publish_pricing(producer& out, const std::string& control_topic,
                     const std::vector<price_version>& versions);

// Publishes TeamCreated for each team of the configuration; the event id is derived from its
// content, so publishing the same configuration twice is one fact.
void publish_config_teams(producer& out, const std::string& ledger_topic,
                          const tally_config& config);

// A control event: a CloudEvent of the given type whose data is `data_json`.
std::string encode_control_event(std::string_view type, std::string_view id, time_ms time,
                                 std::string_view data_json);

// Reads the control topic from its beginning to its end and returns the pricing table; every
// other control event is handed to `other(type, data_json)` in log order.
pricing_table read_pricing(
    const std::string& brokers, const std::string& control_topic,
    const std::function<void(std::string_view, std::string_view)>& other = {});

}  // namespace tally
