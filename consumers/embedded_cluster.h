// librdkafka's in-process mock cluster with Tally's topics: the zero-install try-out of `tally
// serve --embedded` and the unit tests that need a broker to talk to (never the only proof:
// integration tests run the real broker).
// Thread-safety: construct and destroy on one thread; the cluster serves clients from its own.
#pragma once

#include <string>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // after rdkafka.h, as it requires

#include "consumers/control.h"

namespace tally {

struct embedded_cluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstraps;

  // One broker; ledger, reports and alerts with `partitions` each, control and the alerts' dead
  // letters with one. Throws std::runtime_error when librdkafka cannot make its handle.
  embedded_cluster(const topic_names& topics, int partitions);
  ~embedded_cluster();
  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;
};

}  // namespace tally
