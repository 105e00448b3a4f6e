// The webhook sender against the real test receiver on 127.0.0.1: answers (2xx, 500, 410, a
// redirect not followed), a timeout, the private-address refusal at connect time, a refused
// port, malformed requests (secret, scheme, header injection), the in-flight bound, stop()
// abandoning transfers, and 300 concurrent deliveries whose signatures the receiver verifies.
#include "consumers/webhook_sender.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "consumers/webhook_signature.h"
#include "tests/support/webhook_receiver.h"

namespace tally {
namespace {

using namespace std::chrono_literals;
using test::webhook_receiver;

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Collects on_done's results; waits on a condition with a deadline.
class results {
 public:
  std::function<void(webhook_result)> callback() {
    return [this](webhook_result r) {
      {
        std::lock_guard lock(mu_);
        got_.push_back(std::move(r));
      }
      cv_.notify_all();
    };
  }
  // The first n results, or fewer if the deadline passed.
  std::vector<webhook_result> wait(std::size_t n, std::chrono::milliseconds deadline = 20s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, deadline, [&] { return got_.size() >= n; });
    return got_;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<webhook_result> got_;
};

webhook_sender_options loopback() {
  webhook_sender_options o;
  o.allow_private = true;
  return o;
}

struct WebhookSender : ::testing::Test {
  webhook_receiver receiver;
  std::string secret = generate_webhook_secret();
  results done;

  webhook_request request(std::uint64_t tag, const std::string& path) {
    receiver.set_secret(path, secret);
    return {tag, receiver.url(path), "ev_" + std::to_string(tag),
            R"({"type":"budget.threshold_crossed","n":)" + std::to_string(tag) + "}", secret};
  }
};

TEST_F(WebhookSender, a_2xx_answer_with_signed_standard_headers) {
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  const std::int64_t before = now_s();
  sender.submit(request(7, "/hooks/a"));
  auto got = done.wait(1);
  ASSERT_EQ(got.size(), 1u);
  const webhook_result& r = got[0];
  EXPECT_EQ(r.tag, 7u);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.blocked);
  EXPECT_EQ(r.response_excerpt, "answer 200");
  EXPECT_GE(r.timestamp_s, before);
  EXPECT_LE(r.timestamp_s, now_s());
  EXPECT_GE(r.started_ms / 1000, before);
  EXPECT_GE(r.duration_ms, 0);

  auto seen = receiver.requests();
  ASSERT_EQ(seen.size(), 1u);
  const auto& q = seen[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.path, "/hooks/a");
  EXPECT_EQ(q.webhook_id, "ev_7");
  EXPECT_EQ(q.webhook_timestamp, std::to_string(r.timestamp_s));
  EXPECT_EQ(q.body, R"({"type":"budget.threshold_crossed","n":7})");
  EXPECT_EQ(q.content_type, "application/json");
  EXPECT_EQ(q.user_agent, "Tally-Webhooks/1");
  EXPECT_TRUE(q.signature_ok) << q.webhook_signature;
  EXPECT_TRUE(q.timestamp_ok);
  EXPECT_EQ(q.webhook_signature, webhook_signature(secret, "ev_7", r.timestamp_s, q.body));
  EXPECT_EQ(sender.in_flight(), 0u);
}

TEST_F(WebhookSender, error_statuses_are_answers_and_redirects_are_not_followed) {
  receiver.fail_first("/fail", 1, 500);
  receiver.answer_always("/gone", 410);
  receiver.answer_always("/moved", 302);
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  sender.submit(request(1, "/fail"));
  sender.submit(request(2, "/gone"));
  sender.submit(request(3, "/moved"));
  auto got = done.wait(3);
  ASSERT_EQ(got.size(), 3u);
  std::map<std::uint64_t, webhook_result> by_tag;
  for (auto& r : got) by_tag[r.tag] = r;
  EXPECT_EQ(by_tag[1].http_status, 500);
  EXPECT_EQ(by_tag[1].response_excerpt, "answer 500");
  EXPECT_EQ(by_tag[2].http_status, 410);
  EXPECT_EQ(by_tag[3].http_status, 302);
  for (auto& [tag, r] : by_tag) {
    EXPECT_EQ(r.error, "") << tag;
    EXPECT_FALSE(r.timed_out) << tag;
  }
  // The retry of the same id succeeds (the receiver fails only the first attempt).
  sender.submit(request(1, "/fail"));
  got = done.wait(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].http_status, 200);
  EXPECT_EQ(receiver.count("ev_1"), 2u);
  for (const auto& q : receiver.requests()) EXPECT_NE(q.path, "/redirected");
  EXPECT_EQ(receiver.requests().size(), 4u);
}

TEST_F(WebhookSender, a_slow_answer_times_out) {
  receiver.delay_once("/slow", 3000);
  webhook_sender_options o = loopback();
  o.timeout_ms = 300;
  webhook_sender sender(o, done.callback());
  sender.start();
  sender.submit(request(1, "/slow"));
  auto got = done.wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].timed_out);
  EXPECT_EQ(got[0].http_status, 0);
  EXPECT_NE(got[0].error, "");
  EXPECT_FALSE(got[0].blocked);
  EXPECT_GE(got[0].duration_ms, 250);
  EXPECT_LT(got[0].duration_ms, 2500);
  EXPECT_EQ(receiver.count("ev_1"), 1u);  // it arrived; the answer came too late
}

TEST_F(WebhookSender, private_targets_are_refused_at_connect_time) {
  webhook_sender_options o;  // allow_private = false
  webhook_sender sender(o, done.callback());
  sender.start();
  sender.submit(request(1, "/a"));
  webhook_request by_name = request(2, "/a");
  by_name.url = "http://localhost:" + std::to_string(receiver.port()) + "/a";
  sender.submit(by_name);
  auto got = done.wait(2);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& r : got) {
    EXPECT_TRUE(r.blocked) << r.tag;
    EXPECT_EQ(r.http_status, 0) << r.tag;
    EXPECT_NE(r.error.find("private address"), std::string::npos) << r.error;
    EXPECT_FALSE(r.timed_out);
  }
  EXPECT_TRUE(receiver.requests().empty());  // curl never connected
}

TEST_F(WebhookSender, a_refused_connection_is_an_error_without_status) {
  unsigned short closed_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, {boost::asio::ip::make_address("127.0.0.1"), 0});  // bound, never listening after
    closed_port = a.local_endpoint().port();
  }
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  webhook_request r = request(1, "/a");
  r.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/a";
  sender.submit(r);
  auto got = done.wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].http_status, 0);
  EXPECT_NE(got[0].error, "");
  EXPECT_FALSE(got[0].blocked);
  EXPECT_FALSE(got[0].timed_out);
}

TEST_F(WebhookSender, malformed_requests_fail_without_sending) {
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  webhook_request bad_secret = request(1, "/a");
  bad_secret.secret = "not-a-secret";
  sender.submit(bad_secret);
  webhook_request bad_scheme = request(2, "/a");
  bad_scheme.url = "ftp://127.0.0.1:" + std::to_string(receiver.port()) + "/a";
  sender.submit(bad_scheme);
  webhook_request injected = request(3, "/a");
  injected.msg_id = "ev_3\r\nx-injected: 1";
  sender.submit(injected);
  webhook_request no_id = request(4, "/a");
  no_id.msg_id = "";
  sender.submit(no_id);
  auto got = done.wait(4);
  ASSERT_EQ(got.size(), 4u);
  for (const auto& r : got) {
    EXPECT_EQ(r.http_status, 0) << r.tag;
    EXPECT_NE(r.error, "") << r.tag;
  }
  EXPECT_TRUE(receiver.requests().empty());
}

TEST_F(WebhookSender, max_in_flight_queues_the_rest) {
  receiver.delay_once("/q", 400);
  webhook_sender_options o = loopback();
  o.max_in_flight = 1;
  webhook_sender sender(o, done.callback());
  sender.submit(request(1, "/q"));  // before start(): waits for it
  sender.submit(request(2, "/q"));
  EXPECT_EQ(sender.in_flight(), 2u);
  sender.start();
  auto got = done.wait(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].tag, 1u);
  EXPECT_EQ(got[1].tag, 2u);
  auto seen = receiver.requests();
  ASSERT_EQ(seen.size(), 2u);
  // The second left only once the first (delayed) had its answer.
  EXPECT_GE(seen[1].arrived_steady - seen[0].arrived_steady, 390ms);
  EXPECT_EQ(sender.in_flight(), 0u);
}

TEST_F(WebhookSender, stop_abandons_transfers_without_reporting_them) {
  receiver.delay_once("/hang", 10'000);
  auto sender = std::make_unique<webhook_sender>(loopback(), done.callback());
  sender->start();
  sender->submit(request(1, "/hang"));
  ASSERT_TRUE(receiver.wait_for([&] { return receiver.count("ev_1") == 1; }, 5s));
  auto t0 = std::chrono::steady_clock::now();
  sender.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(done.size(), 0u);
}

TEST_F(WebhookSender, three_hundred_concurrent_deliveries_all_verified) {
  constexpr std::size_t n = 300;
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  for (std::size_t i = 0; i < n; ++i) sender.submit(request(i, "/many/" + std::to_string(i % 3)));
  auto got = done.wait(n, 60s);
  ASSERT_EQ(got.size(), n);
  std::set<std::uint64_t> tags;
  for (const auto& r : got) {
    EXPECT_EQ(r.http_status, 200) << r.tag << " " << r.error;
    tags.insert(r.tag);
  }
  EXPECT_EQ(tags.size(), n);
  auto seen = receiver.requests();
  ASSERT_EQ(seen.size(), n);
  for (const auto& q : seen) {
    EXPECT_TRUE(q.signature_ok) << q.webhook_id;
    EXPECT_TRUE(q.timestamp_ok) << q.webhook_id;
  }
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(receiver.count("ev_" + std::to_string(i)), 1u);
  EXPECT_EQ(sender.in_flight(), 0u);
  std::printf("max connections open at once: %zu\n", receiver.max_connections());
  EXPECT_GT(receiver.max_connections(), 10u);  // transfers run side by side
}

TEST(WebhookReceiver, fails_the_first_attempts_of_each_id_and_counts_them) {
  webhook_receiver receiver;
  std::string secret = generate_webhook_secret();
  receiver.set_secret("/r", secret);
  receiver.fail_first("/r", 2, 503);
  results done;
  webhook_sender sender(loopback(), done.callback());
  sender.start();
  std::vector<int> statuses;
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (std::uint64_t id = 0; id < 2; ++id)
      sender.submit({id, receiver.url("/r"), "id_" + std::to_string(id), "{}", secret});
    auto got = done.wait(2 * (attempt + 1));
    ASSERT_EQ(got.size(), 2u * (attempt + 1));
    for (std::size_t k = 2 * attempt; k < got.size(); ++k) statuses.push_back(got[k].http_status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{503, 503, 503, 503, 200, 200}));
  EXPECT_EQ(receiver.count("id_0"), 3u);
  EXPECT_EQ(receiver.count("id_1"), 3u);
  EXPECT_EQ(receiver.count("id_2"), 0u);
  // A wrong secret is recorded as such.
  receiver.set_secret("/other", generate_webhook_secret());
  sender.submit({9, receiver.url("/other"), "id_9", "{}", secret});
  ASSERT_TRUE(receiver.wait_for([&] { return receiver.count("id_9") == 1; }, 10s));
  auto seen = receiver.requests();
  EXPECT_TRUE(seen.front().signature_ok);
  EXPECT_FALSE(seen.back().signature_ok);
  EXPECT_FALSE(receiver.wait_for([&] { return receiver.count("id_10") == 1; }, 50ms));
}

}  // namespace
}  // namespace tally
