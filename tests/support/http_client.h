// Test support: a blocking HTTP/1.1 client over one keep-alive connection (Boost.Beast), for
// end-to-end tests against a running `tally serve`. It reconnects when the server closed.
// Thread-safety: one client per thread.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace tally::test {

struct http_reply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(std::string_view name) const;
  boost::json::value json() const;  // parse of the body; null when it is not JSON
};

class http_client {
 public:
  explicit http_client(unsigned short port, std::string api_key = {});
  ~http_client();

  http_reply get(const std::string& target) { return request("GET", target, ""); }
  http_reply post(const std::string& target, const std::string& json) {
    return request("POST", target, json);
  }
  http_reply patch(const std::string& target, const std::string& json) {
    return request("PATCH", target, json);
  }
  // Sends one request; extra headers override the defaults (X-API-Key, Content-Type when a
  // body is given). A header with an empty value is removed.
  http_reply request(const std::string& method, const std::string& target, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
  void set_key(std::string key) { key_ = std::move(key); }

  // Polls GET /readyz until 200 or the timeout passes.
  bool wait_ready(std::chrono::seconds timeout);

 private:
  void connect();
  unsigned short port_;
  std::string key_;
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace tally::test
