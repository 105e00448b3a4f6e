// The small blocking HTTP/1.1 client tally-loadgen uses outside the measured run: setup
// (teams, agents, sessions), the batch probe and /metrics polling. One keep-alive connection,
// reopened once when the server has closed it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>

namespace tally::loadgen {

// http://host[:port][/base]; https is not supported.
struct target {
  std::string host;
  std::string port = "80";
  std::string host_header;  // host[:port] as given
  std::string base_path;    // without a trailing slash; "" for the root
};

std::optional<target> parse_url(std::string_view url, std::string* why);

struct reply {
  int status = 0;  // 0: no answer (see error)
  std::string body;
  std::string error;
};

class sync_client {
 public:
  sync_client(target t, std::string api_key,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // path is appended to the target's base path; the API key goes in X-API-Key when auth.
  reply request(boost::beast::http::verb method, std::string_view path, std::string_view body = {},
                bool auth = true);

  // The first address the target's host resolves to (throws on failure).
  boost::asio::ip::tcp::endpoint endpoint();

 private:
  reply attempt(boost::beast::http::verb method, std::string_view path, std::string_view body,
                bool auth);

  target t_;
  std::string key_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buf_;
  std::optional<boost::asio::ip::tcp::endpoint> ep_;
  bool open_ = false;
};

}  // namespace tally::loadgen
