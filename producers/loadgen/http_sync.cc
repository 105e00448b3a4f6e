#include "producers/loadgen/http_sync.h"

#include <boost/asio/connect.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace tally::loadgen {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::optional<target> parse_url(std::string_view url, std::string* why) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, 8) == "https://") {
    *why = "https is not supported; use http://";
    return std::nullopt;
  }
  if (url.substr(0, scheme.size()) != scheme) {
    *why = "the URL must begin with http://";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  target t;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    t.base_path = std::string(url.substr(slash));
    while (!t.base_path.empty() && t.base_path.back() == '/') t.base_path.pop_back();
  }
  if (authority.empty()) {
    *why = "no host in the URL";
    return std::nullopt;
  }
  t.host_header = std::string(authority);
  if (authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      *why = "unterminated IPv6 address";
      return std::nullopt;
    }
    t.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      t.port = std::string(authority.substr(close + 2));
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    t.host = std::string(authority.substr(0, colon));
    t.port = std::string(authority.substr(colon + 1));
  } else {
    t.host = std::string(authority);
  }
  if (t.port.empty()) t.port = "80";
  return t;
}

sync_client::sync_client(target t, std::string api_key, std::chrono::milliseconds timeout)
    : t_(std::move(t)), key_(std::move(api_key)), timeout_(timeout), stream_(ioc_) {}

tcp::endpoint sync_client::endpoint() {
  if (!ep_) {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(t_.host, t_.port);
    ep_ = results.begin()->endpoint();
  }
  return *ep_;
}

reply sync_client::request(http::verb method, std::string_view path, std::string_view body,
                           bool auth) {
  // A reused connection may have been closed by the server meanwhile: retry once, fresh.
  const bool reused = open_;
  reply r = attempt(method, path, body, auth);
  if (r.status == 0 && reused) r = attempt(method, path, body, auth);
  return r;
}

reply sync_client::attempt(http::verb method, std::string_view path, std::string_view body,
                           bool auth) {
  reply r;
  beast::error_code ec;
  // Asynchronous operations run to completion here, so that tcp_stream's timeouts apply.
  auto run = [this] {
    ioc_.restart();
    ioc_.run();
  };
  if (!open_) {
    try {
      endpoint();
    } catch (const std::exception& e) {
      r.error = std::string("resolve ") + t_.host + ": " + e.what();
      return r;
    }
    stream_.expires_after(timeout_);
    stream_.async_connect(*ep_, [&ec](beast::error_code e) { ec = e; });
    run();
    if (ec) {
      r.error = "connect: " + ec.message();
      stream_.close();
      return r;
    }
    stream_.socket().set_option(tcp::no_delay(true), ec);
    open_ = true;
    buf_.clear();
  }
  http::request<http::string_body> req{method, t_.base_path + std::string(path), 11};
  req.set(http::field::host, t_.host_header);
  req.set(http::field::user_agent, "tally-loadgen");
  if (auth && !key_.empty()) req.set("X-API-Key", key_);
  if (!body.empty() || method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.prepare_payload();
  http::response<http::string_body> res;
  stream_.expires_after(timeout_);
  http::async_write(stream_, req, [&](beast::error_code e, std::size_t) {
    ec = e;
    if (!e)
      http::async_read(stream_, buf_, res, [&ec](beast::error_code e2, std::size_t) { ec = e2; });
  });
  run();
  if (ec) {
    r.error = ec.message();
    stream_.close();
    open_ = false;
    return r;
  }
  r.status = static_cast<int>(res.result_int());
  r.body = std::move(res.body());
  if (!res.keep_alive()) {
    stream_.close();
    open_ = false;
  }
  return r;
}

}  // namespace tally::loadgen
