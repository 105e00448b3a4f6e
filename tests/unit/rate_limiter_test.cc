// Rate limits: exact GCRA arithmetic (allowance, refill, Retry-After, reset), classes and keys
// independent, pruning of idle keys, configuration from the environment, and the headers.
#include "api/rate_limiter.h"

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tally::api {
namespace {

constexpr std::int64_t t0 = 1'769'904'000'000;  // 2026-02-01T00:00:00Z, in ms

rate_limits small_limits() {
  rate_limits l;
  l.general_rpm = 6;  // one request every 10 s, burst 6
  l.ingest_rpm = 600;
  return l;
}

TEST(RateLimit, burst_then_refused_with_retry_after) {
  rate_limiter rl(small_limits());
  for (int i = 0; i < 6; ++i) {
    rate_decision d = rl.take("key_a", rate_class::general, t0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 6);
    EXPECT_EQ(d.remaining, 5 - i);
    EXPECT_EQ(d.reset_s, t0 / 1000 + 10 * (i + 1));  // full again after (i+1) * 10 s
  }
  rate_decision d = rl.take("key_a", rate_class::general, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after_s, 10);
  EXPECT_EQ(d.reset_s, t0 / 1000 + 60);
  d = rl.take("key_a", rate_class::general, t0 + 9'001);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);  // 999 ms, rounded up
}

TEST(RateLimit, refused_requests_do_not_count) {
  rate_limiter rl(small_limits());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.take("k", rate_class::general, t0).allowed);
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(rl.take("k", rate_class::general, t0 + 5'000).allowed);
  EXPECT_TRUE(rl.take("k", rate_class::general, t0 + 10'000).allowed);
}

TEST(RateLimit, refills_continuously) {
  rate_limiter rl(small_limits());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.take("k", rate_class::general, t0).allowed);
  EXPECT_FALSE(rl.take("k", rate_class::general, t0 + 9'999).allowed);
  rate_decision d = rl.take("k", rate_class::general, t0 + 10'000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_FALSE(rl.take("k", rate_class::general, t0 + 10'000).allowed);
  // 35 s later three more requests have accrued (at 20 s, 30 s, 40 s).
  for (int i = 0; i < 3; ++i) {
    d = rl.take("k", rate_class::general, t0 + 45'000);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 2 - i);
  }
  EXPECT_FALSE(rl.take("k", rate_class::general, t0 + 45'000).allowed);
  // A full minute idle restores the whole allowance, never more.
  d = rl.take("k", rate_class::general, t0 + 45'000 + 3'600'000);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 5);
}

TEST(RateLimit, default_general_limit_is_100_per_minute) {
  rate_limiter rl;
  for (int i = 0; i < 100; ++i) {
    rate_decision d = rl.take("key", rate_class::general, t0);
    ASSERT_TRUE(d.allowed) << i;
    ASSERT_EQ(d.remaining, 99 - i);
  }
  rate_decision d = rl.take("key", rate_class::general, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 100);
  EXPECT_EQ(d.retry_after_s, 1);  // 600 ms
  EXPECT_TRUE(rl.take("key", rate_class::general, t0 + 600).allowed);
}

TEST(RateLimit, auth_class_is_10_per_minute) {
  rate_limiter rl(rate_limits::from_values("100000", "100000"));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.take("k", rate_class::auth, t0).allowed);
  rate_decision d = rl.take("k", rate_class::auth, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 10);
  EXPECT_EQ(d.retry_after_s, 6);
}

TEST(RateLimit, classes_are_independent_per_key) {
  rate_limiter rl(small_limits());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.take("k", rate_class::auth, t0).allowed);
  EXPECT_FALSE(rl.take("k", rate_class::auth, t0).allowed);
  rate_decision g = rl.take("k", rate_class::general, t0);
  EXPECT_TRUE(g.allowed);
  EXPECT_EQ(g.remaining, 5);
  rate_decision i = rl.take("k", rate_class::ingest, t0);
  EXPECT_TRUE(i.allowed);
  EXPECT_EQ(i.remaining, 599);
}

TEST(RateLimit, keys_are_independent) {
  rate_limiter rl(small_limits());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.take("key_a", rate_class::general, t0).allowed);
  EXPECT_FALSE(rl.take("key_a", rate_class::general, t0).allowed);
  rate_decision b = rl.take("key_b", rate_class::general, t0);
  EXPECT_TRUE(b.allowed);
  EXPECT_EQ(b.remaining, 5);
  EXPECT_FALSE(rl.take("key_a", rate_class::general, t0).allowed);
}

TEST(RateLimit, ingest_class_takes_a_high_rate) {
  rate_limiter rl;  // 60,000 per minute: one per millisecond sustained
  int allowed = 0;
  for (std::int64_t ms = 0; ms < 120'000; ms += 1) {
    allowed += rl.take("fleet", rate_class::ingest, t0 + ms).allowed;
  }
  EXPECT_EQ(allowed, 120'000);
  rate_decision d = rl.take("fleet", rate_class::ingest, t0 + 119'999);
  EXPECT_EQ(d.limit, 60'000);
}

TEST(RateLimit, idle_keys_are_pruned_without_losing_state) {
  rate_limiter rl(small_limits());
  for (int k = 0; k < 1000; ++k) rl.take("key_" + std::to_string(k), rate_class::general, t0);
  for (int i = 0; i < 6; ++i) rl.take("busy", rate_class::general, t0);
  EXPECT_EQ(rl.size(), 1001u);
  rl.prune(t0 + 9'999);  // one request each: full again after 10 s
  EXPECT_EQ(rl.size(), 1001u);
  rl.prune(t0 + 10'000);
  EXPECT_EQ(rl.size(), 1u);  // "busy" is still draining
  rate_decision busy = rl.take("busy", rate_class::general, t0 + 10'000);
  EXPECT_TRUE(busy.allowed);
  EXPECT_EQ(busy.remaining, 0);  // one refilled, none to spare: its state was kept
  // A pruned key starts from its full allowance, as it would have anyway.
  EXPECT_EQ(rl.take("key_7", rate_class::general, t0 + 10'000).remaining, 5);
}

TEST(RateLimit, take_prunes_its_shard_as_time_passes) {
  rate_limiter rl(small_limits());
  for (int k = 0; k < 1000; ++k) rl.take("old_" + std::to_string(k), rate_class::general, t0);
  EXPECT_EQ(rl.size(), 1000u);
  // Two minutes later, new traffic sweeps every shard it touches (all 64, with 1000 keys).
  for (int k = 0; k < 1000; ++k) {
    rl.take("new_" + std::to_string(k), rate_class::ingest, t0 + 120'000);
  }
  EXPECT_EQ(rl.size(), 1000u);
}

TEST(RateLimit, concurrent_takes_on_one_key_are_counted_exactly) {
  rate_limits l;
  l.general_rpm = 2000;
  rate_limiter rl(l);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        allowed += rl.take("shared", rate_class::general, t0).allowed;
        rl.take("own_" + std::to_string(t), rate_class::general, t0);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 2000);
  EXPECT_EQ(rl.size(), 5u);
}

TEST(RateLimit, limits_from_values) {
  rate_limits d = rate_limits::from_values(nullptr, nullptr);
  EXPECT_EQ(d.general_rpm, 100);
  EXPECT_EQ(d.ingest_rpm, 60000);
  EXPECT_EQ(d.auth_rpm, 10);
  rate_limits set = rate_limits::from_values("250", "120000");
  EXPECT_EQ(set.general_rpm, 250);
  EXPECT_EQ(set.ingest_rpm, 120000);
  EXPECT_EQ(set.limit(rate_class::auth), 10);
  EXPECT_EQ(rate_limits::from_values("", "").general_rpm, 100);
  for (const char* bad : {"abc", "0", "-5", "10x", " 10", "2000000", "1e3", "99999999999"}) {
    try {
      rate_limits::from_values(bad, nullptr);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("TALLY_RATE_LIMIT_RPM"), std::string::npos) << e.what();
    }
  }
  try {
    rate_limits::from_values("10", "lots");
    ADD_FAILURE() << "accepted lots";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("TALLY_INGEST_RATE_LIMIT_RPM"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("\"lots\""), std::string::npos);
  }
}

TEST(RateLimit, limits_from_env) {
  ::setenv("TALLY_RATE_LIMIT_RPM", "42", 1);
  ::setenv("TALLY_INGEST_RATE_LIMIT_RPM", "7000", 1);
  rate_limits l = rate_limits::from_env();
  EXPECT_EQ(l.general_rpm, 42);
  EXPECT_EQ(l.ingest_rpm, 7000);
  ::setenv("TALLY_RATE_LIMIT_RPM", "fast", 1);
  EXPECT_THROW(rate_limits::from_env(), std::invalid_argument);
  ::unsetenv("TALLY_RATE_LIMIT_RPM");
  ::unsetenv("TALLY_INGEST_RATE_LIMIT_RPM");
  EXPECT_EQ(rate_limits::from_env().general_rpm, 100);
}

TEST(RateLimit, headers) {
  http_response res{http::status::ok, 11};
  add_rate_headers(res, rate_decision{true, 100, 42, 1'769'904'060, 0});
  EXPECT_EQ(res["X-RateLimit-Limit"], "100");
  EXPECT_EQ(res["X-RateLimit-Remaining"], "42");
  EXPECT_EQ(res["X-RateLimit-Reset"], "1769904060");
  EXPECT_EQ(res.count(http::field::retry_after), 0u);
  add_rate_headers(res, rate_decision{false, 100, 0, 1'769'904'060, 7});
  EXPECT_EQ(res["X-RateLimit-Remaining"], "0");
  EXPECT_EQ(res[http::field::retry_after], "7");
}

}  // namespace
}  // namespace tally::api
