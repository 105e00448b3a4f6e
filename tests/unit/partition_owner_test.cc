// The owner's answer to a write before the consumer group has given it any partition.
#include "consumers/partition_owner.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // after rdkafka.h, as it requires

#include <string>

#include "tests/support/kafka_env.h"

namespace tally {
namespace {

// librdkafka's in-process mock cluster: one broker, the ledger and reports topics.
struct mock_cluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstraps;
  mock_cluster() {
    char err[256];
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
    cluster = rd_kafka_mock_cluster_new(rk, 1);
    bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
    rd_kafka_mock_topic_create(cluster, "tally.ledger.v1", 4, 1);
    rd_kafka_mock_topic_create(cluster, "tally.reports.v1", 4, 1);
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
  }
};

TEST(partition_owner, before_its_first_assignment_a_write_is_told_to_retry_not_sent_elsewhere) {
  mock_cluster kafka;
  test::scoped_temp_dir dir("tally-owner-unassigned");
  ledger_store store({.path = dir.path});
  producer out({.brokers = kafka.bootstraps});
  pricing_table pricing;
  limit_policy policy;
  partition_owner owner({.brokers = kafka.bootstraps, .group_id = "unassigned"}, store, out,
                        pricing, policy);
  bool ran = false;
  // No partition is held yet (run() has not joined the group): the node cannot say another node
  // owns the team, only that it is not ready for it (503 catching_up, Retry-After).
  EXPECT_EQ(owner.with_team(team_id{"acme"}, [&](live_view&) { ran = true; }),
            team_access::catching_up);
  EXPECT_FALSE(ran);
  EXPECT_FALSE(owner.ready());
}

}  // namespace
}  // namespace tally
