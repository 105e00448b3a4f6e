// Test support: a real HTTP/1.1 webhook receiver on 127.0.0.1 (Boost.Beast, C++20 coroutines,
// one thread of its own). It records every request, checks its Standard Webhooks signature
// against the secret registered for its path, counts deliveries per webhook-id and answers as
// scripted per path (fail the first k attempts of each id, delay the next answer, always answer
// a status). Keep-alive and hundreds of concurrent connections are served (one coroutine each).
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tally::test {

class webhook_receiver {
 public:
  struct received {
    std::string path;  // the target without its query
    std::string method;
    std::string webhook_id;
    std::string webhook_timestamp;
    std::string webhook_signature;
    std::string content_type;
    std::string user_agent;
    std::string body;
    int status = 0;             // what the receiver answered (or will, after a delay)
    bool signature_ok = false;  // against the path's secret; false when it has none
    bool timestamp_ok = false;  // within 5 minutes of the arrival
    std::chrono::steady_clock::time_point arrived_steady;
    std::chrono::system_clock::time_point arrived_wall;
  };

  webhook_receiver();  // listening on 127.0.0.1, an ephemeral port
  ~webhook_receiver();
  webhook_receiver(const webhook_receiver&) = delete;
  webhook_receiver& operator=(const webhook_receiver&) = delete;

  void set_secret(std::string path, std::string whsec);
  // The first k requests of each webhook-id on `path` answer `status`.
  void fail_first(std::string path, int k, int status = 500);
  // The next request on `path` waits `ms` before answering (to provoke a client timeout).
  void delay_once(std::string path, int ms);
  // Every request on `path` answers `status` (e.g. 410); takes precedence over fail_first.
  // Every answer's body is "answer <status>"; a 3xx has Location: /redirected.
  void answer_always(std::string path, int status);

  std::vector<received> requests() const;
  std::size_t count(std::string_view msg_id) const;  // requests with that webhook-id, any path
  // Waits until pred() holds (re-checked after each request) or the deadline passes; pred is
  // called without the receiver's lock held, so it may use the accessors.
  bool wait_for(std::function<bool()> pred, std::chrono::milliseconds deadline);

  // The most connections that were open at once (how concurrent the client was).
  std::size_t max_connections() const;

  unsigned short port() const { return port_; }
  std::string url(std::string path) const;  // http://127.0.0.1:<port><path>

 private:
  struct io;
  struct script {
    std::string secret;
    int fail_k = 0;
    int fail_status = 500;
    int delay_ms = 0;  // the next request's
    int always = 0;
  };
  // Records the request and decides the answer: (status, delay ms).
  std::pair<int, int> record(received r);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;  // bumped by each request
  std::map<std::string, script, std::less<>> scripts_;
  std::map<std::pair<std::string, std::string>, int> attempts_;  // (path, id) -> requests
  std::map<std::string, std::size_t, std::less<>> per_id_;
  std::vector<received> requests_;
  std::size_t connections_ = 0;
  std::size_t max_connections_ = 0;
  std::unique_ptr<io> io_;
  unsigned short port_ = 0;
  std::thread thread_;
};

}  // namespace tally::test
