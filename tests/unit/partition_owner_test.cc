// The owner's answer to a write before the consumer group has given it any partition.
#include "consumers/partition_owner.h"

#include <gtest/gtest.h>

#include "consumers/embedded_cluster.h"
#include "tests/support/kafka_env.h"

namespace tally {
namespace {

TEST(partition_owner, before_its_first_assignment_a_write_is_told_to_retry_not_sent_elsewhere) {
  embedded_cluster kafka(topic_names{}, 4);  // librdkafka's mock cluster
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
