// The producer against the real broker: warm_topic learns a topic's partitions before its first
// record (serve warms the topics it writes, so the first alert after a start is not held while
// the client looks the alerts topic up).
#include "producers/producer.h"

#include <gtest/gtest.h>

#include "consumers/control.h"
#include "tests/support/kafka_env.h"
#include "tests/support/tally_process.h"

namespace tally::test {
namespace {

TEST(Producer, WarmTopicKnowsEachTopicsPartitionsAndTheFirstRecordIsDelivered) {
  const auto brokers = test_brokers();
  tally::topic_names t;
  const auto prefix = unique_name("warm") + ".";
  for (auto* n : {&t.ledger, &t.reports, &t.control, &t.alerts, &t.alerts_dlq}) *n = prefix + *n;
  tally::ensure_topics(brokers, t, 3);
  tally::producer out({.brokers = brokers, .client_id = "warm-test"});
  EXPECT_EQ(out.warm_topic(t.ledger, 10'000), 3);
  EXPECT_EQ(out.warm_topic(t.alerts, 10'000), 3);
  EXPECT_EQ(out.warm_topic(t.control, 10'000), 1);
  // A warmed topic takes records as before.
  ASSERT_EQ(out.produce(t.alerts, -1, "acme", "{}"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(out.flush(30'000));
  EXPECT_EQ(out.delivered(), 1u);
  EXPECT_EQ(out.failed(), 0u);
}

}  // namespace
}  // namespace tally::test
