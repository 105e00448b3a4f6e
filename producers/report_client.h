// The client library for fleets that publish usage straight to Kafka: one usage report per
// record on tally.reports.v1, keyed by team (murmur2, as Java clients) so a team's reports
// reach its owner in order. The owner decides them into the ledger.
// Thread-safety: publish() may be called from many threads at once.
#pragma once

#include <functional>
#include <string>

#include "producers/producer.h"
#include "schemas/events.h"

namespace tally {

class report_client {
 public:
  report_client(producer& out, std::string topic = "tally.reports.v1")
      : out_(out), topic_(std::move(topic)) {}

  // Enqueues a report; `done` (optional) gets the delivery report. A report without event_id
  // is still decided once per record, but a client retry would count twice: give one.
  rd_kafka_resp_err_t publish(const usage_report& r, delivery_fn done = {});

  // Enqueues a report already encoded as JSON (plain or CloudEvent), keyed by team.
  rd_kafka_resp_err_t publish_json(const std::string& team, std::string_view json,
                                   delivery_fn done = {});

  bool flush(int timeout_ms) { return out_.flush(timeout_ms); }

 private:
  producer& out_;
  std::string topic_;
};

}  // namespace tally
