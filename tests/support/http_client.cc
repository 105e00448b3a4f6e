#include "tests/support/http_client.h"

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tally::test {
namespace http = boost::beast::http;

std::string http_reply::header(std::string_view name) const {
  for (auto& [k, v] : headers) {
    if (boost::beast::iequals(k, name)) return v;
  }
  return {};
}

boost::json::value http_reply::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  return ec ? boost::json::value() : v;
}

http_client::http_client(unsigned short port, std::string api_key)
    : port_(port), key_(std::move(api_key)), stream_(io_) {}

http_client::~http_client() {
  boost::system::error_code ec;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
}

void http_client::connect() {
  boost::system::error_code ec;
  stream_.socket().close(ec);
  stream_.connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
  buffer_.clear();
  connected_ = true;
}

http_reply http_client::request(const std::string& method, const std::string& target,
                                const std::string& body,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  for (int attempt = 0;; ++attempt) {
    try {
      if (!connected_) connect();
      http::request<http::string_body> req{http::string_to_verb(method), target, 11};
      req.set(http::field::host, "127.0.0.1");
      if (!key_.empty()) req.set("X-API-Key", key_);
      if (!body.empty()) req.set(http::field::content_type, "application/json");
      for (auto& [k, v] : headers) {
        if (v.empty()) {
          req.erase(k);
        } else {
          req.set(k, v);
        }
      }
      req.body() = body;
      req.prepare_payload();
      stream_.expires_after(std::chrono::seconds(30));
      http::write(stream_, req);
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      http::read(stream_, buffer_, parser);
      auto res = parser.release();
      http_reply out;
      out.status = res.result_int();
      out.body = res.body();
      for (auto& f : res)
        out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      if (!res.keep_alive()) connected_ = false;
      return out;
    } catch (const boost::system::system_error&) {
      connected_ = false;
      if (attempt >= 1) throw;  // one reconnect: the server may have closed an idle connection
    }
  }
}

bool http_client::wait_ready(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (get("/readyz").status == 200) return true;
    } catch (const boost::system::system_error&) {
    }
    // Polling a readiness endpoint: the interval is not a synchronisation assumption.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace tally::test
