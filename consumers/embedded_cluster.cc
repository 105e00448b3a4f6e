#include "consumers/embedded_cluster.h"

#include <stdexcept>

namespace tally {

embedded_cluster::embedded_cluster(const topic_names& topics, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  cluster = rd_kafka_mock_cluster_new(rk, 1);
  bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  rd_kafka_mock_topic_create(cluster, topics.ledger.c_str(), partitions, 1);
  rd_kafka_mock_topic_create(cluster, topics.reports.c_str(), partitions, 1);
  rd_kafka_mock_topic_create(cluster, topics.control.c_str(), 1, 1);
  rd_kafka_mock_topic_create(cluster, topics.alerts.c_str(), partitions, 1);
  rd_kafka_mock_topic_create(cluster, topics.alerts_dlq.c_str(), 1, 1);
}

embedded_cluster::~embedded_cluster() {
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
}

}  // namespace tally
