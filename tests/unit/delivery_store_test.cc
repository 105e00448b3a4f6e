// The delivery store: a consumed alert's deliveries are created once per target with the
// consumed offset, survive a reopen, come due in time order, move when updated, and list newest
// first with a cursor.
#include "consumers/delivery_store.h"

#include <gtest/gtest.h>

#include "tests/support/kafka_env.h"

namespace tally {
namespace {

using targets = std::vector<std::pair<std::string, std::string>>;

TEST(delivery_store, an_alert_read_twice_creates_its_deliveries_once) {
  test::scoped_temp_dir dir("tally-deliveries");
  {
    delivery_store s(dir.path);
    auto first = s.add_alert("thr:1", "budget_threshold_crossed", R"({"id":"thr:1"})",
                             targets{{"wh_a", "webhook"}, {"em_b", "email"}}, 2, 8, 1000);
    EXPECT_EQ(first.size(), 2u);
    // Read again (a crash before the commit, a rebalance): nothing new, the offset still moves.
    auto again = s.add_alert("thr:1", "budget_threshold_crossed", R"({"id":"thr:1"})",
                             targets{{"wh_a", "webhook"}, {"em_b", "email"}}, 2, 9, 2000);
    EXPECT_TRUE(again.empty());
  }
  delivery_store s(dir.path);  // reopened: everything is on disk
  EXPECT_EQ(s.offsets(), (std::map<std::int32_t, std::int64_t>{{2, 9}}));
  auto d = s.get("wh_a", "thr:1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, delivery_state::pending);
  EXPECT_EQ(d->channel, "webhook");
  EXPECT_EQ(d->created_at, 1000);
  EXPECT_EQ(s.body("thr:1").value_or(""), R"({"id":"thr:1"})");
  EXPECT_EQ(s.due(1000, 10, nullptr).size(), 2u);
}

TEST(delivery_store, due_rows_come_in_time_order_and_move_when_updated) {
  test::scoped_temp_dir dir("tally-deliveries");
  delivery_store s(dir.path);
  s.add_alert("e1", "t", "{}", targets{{"wh_a", "webhook"}}, 0, 1, 100);
  s.add_alert("e2", "t", "{}", targets{{"wh_a", "webhook"}}, 0, 2, 50);
  std::optional<time_ms> earliest;
  auto due = s.due(100, 10, &earliest);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].second, "e2");
  EXPECT_FALSE(earliest);

  auto before = *s.get("wh_a", "e1");
  auto after = before;
  after.attempts = 1;
  after.next_at = 5000;
  after.last_status = 500;
  s.update(before, after, delivery_attempt{.n = 1, .at = 100, .status = 500, .error = "HTTP 500"});
  due = s.due(100, 10, &earliest);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].second, "e2");
  EXPECT_EQ(earliest, 5000);
  EXPECT_EQ(s.due(5000, 10, nullptr).size(), 2u);

  auto sent = after;
  sent.state = delivery_state::delivered;
  sent.attempts = 2;
  s.update(after, sent, delivery_attempt{.n = 2, .at = 5000, .status = 200});
  EXPECT_EQ(s.due(10'000, 10, nullptr).size(), 1u);  // e2 only
  auto log = s.attempts("wh_a", "e1");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 500);
  EXPECT_EQ(log[0].error, "HTTP 500");
  EXPECT_EQ(log[1].status, 200);
  EXPECT_EQ(s.get("wh_a", "e1")->state, delivery_state::delivered);
}

TEST(delivery_store, a_targets_deliveries_list_newest_first_in_pages) {
  test::scoped_temp_dir dir("tally-deliveries");
  delivery_store s(dir.path);
  for (int i = 0; i < 5; ++i) {
    s.add_alert("e" + std::to_string(i), "t", "{}", targets{{"wh_a", "webhook"}}, 0, i + 1,
                1000 + i * (i % 2));  // e0, e2, e4 share a time with e1 / none: ties by id
    s.add_alert("x" + std::to_string(i), "t", "{}", targets{{"wh_b", "webhook"}}, 0, i + 1, 1);
  }
  std::vector<std::string> seen;
  std::string cursor;
  for (;;) {
    auto page = s.list("wh_a", cursor, 2);
    for (auto& d : page) seen.push_back(d.event_id);
    if (page.size() < 2) break;
    cursor = delivery_store::list_cursor(page.back());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"e3", "e1", "e4", "e2", "e0"}));
}

}  // namespace
}  // namespace tally
