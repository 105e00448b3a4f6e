// The webhook sender: makes single HTTP delivery attempts (POST, Standard Webhooks headers and
// signature) with libcurl's multi interface, many at once; it neither retries nor decides what
// to send (the dispatcher does both, from the results).
//
// Operation. submit() queues a request and wakes the sender's thread (curl_multi_wakeup); the
// thread starts up to max_in_flight transfers at a time and reports each one's result to
// on_done. The webhook-timestamp and the signature are made when the transfer starts.
// Redirects are not followed (a 3xx is an answer like any other, for the caller to judge),
// proxies from the environment are not used, and connections are kept alive between
// deliveries to the same host. Unless allow_private, every socket curl opens is checked
// against is_private_address at connect time, after DNS, so a name that resolves to a private
// address (or is made to, later) cannot reach the node's network.
//
// Concurrency. One thread of its own runs every transfer and calls on_done; on_done must not
// block for long (it delays every other delivery). submit() and in_flight() may be called from
// any thread, on_done included.
//
// Limitations. stop() abandons queued and running transfers without reporting them: the caller
// treats them as not delivered. The response body is read to its end but only its first 512
// bytes are kept.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace tally {

struct webhook_request {
  std::uint64_t tag = 0;  // the caller's; returned in the result
  std::string url;
  std::string msg_id;  // webhook-id header (the alert's event id); printable ASCII, ≤ 256
  std::string body;    // JSON, sent as Content-Type: application/json
  std::string secret;  // whsec_...; the signature is computed at send time
};

struct webhook_result {
  std::uint64_t tag = 0;
  int http_status = 0;  // 0 when no (complete) HTTP answer came
  bool timed_out = false;
  bool blocked = false;          // the connection went to an address the policy refuses
  std::string error;             // "" on an HTTP answer; else curl's message or the refusal
  std::string response_excerpt;  // first 512 bytes of the answer's body
  std::int64_t timestamp_s = 0;  // webhook-timestamp sent
  std::int64_t started_ms = 0;   // wall clock, ms since epoch
  std::int64_t duration_ms = 0;
};

struct webhook_sender_options {
  int timeout_ms = 10'000;          // whole request
  int connect_timeout_ms = 5'000;   // TCP (and TLS) connect
  std::size_t max_in_flight = 256;  // transfers at once; more submissions wait in a queue
  bool allow_private = false;       // else connections to is_private_address targets are refused
  std::string user_agent = "Tally-Webhooks/1";
};

class webhook_sender {
 public:
  webhook_sender(webhook_sender_options o, std::function<void(webhook_result)> on_done);
  ~webhook_sender();  // stop()
  webhook_sender(const webhook_sender&) = delete;
  webhook_sender& operator=(const webhook_sender&) = delete;

  void start();
  // In-flight and queued transfers are abandoned (on_done is not called for them). Not from
  // on_done (it joins the sender's thread).
  void stop();
  // Any thread; on_done is called on the sender's thread. Requests submitted before start()
  // wait for it; after stop() they are dropped.
  void submit(webhook_request r);
  std::size_t in_flight() const;  // queued + transferring

 private:
  struct transfer;
  void run();
  void begin(webhook_request r);
  void finish(std::unique_ptr<transfer> t, int curl_code);

  webhook_sender_options options_;
  std::function<void(webhook_result)> on_done_;
  void* multi_ = nullptr;  // CURLM*
  mutable std::mutex mu_;
  std::deque<webhook_request> queue_;
  bool stopped_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> in_flight_{0};
  std::unordered_map<const transfer*, std::unique_ptr<transfer>> running_;  // the thread's
  std::thread thread_;
};

}  // namespace tally
