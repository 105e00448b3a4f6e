#include "tests/support/sse_client.h"

#include <limits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace tally::test {
namespace http = boost::beast::http;
using steady = std::chrono::steady_clock;

sse_client::sse_client(unsigned short port, const std::string& target, const headers& extra,
                       std::chrono::milliseconds limit)
    : stream_(io_) {
  parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::accept, "text/event-stream");
  for (auto& [k, v] : extra) req.set(k, v);
  stream_.expires_after(limit);
  http::write(stream_.socket(), req);
  boost::beast::error_code result = boost::asio::error::timed_out;
  http::async_read_header(stream_, buffer_, parser_,
                          [&](boost::beast::error_code ec, std::size_t) { result = ec; });
  io_.restart();
  io_.run();
  if (result) {
    ended_ = true;
    return;
  }
  status_ = parser_.get().result_int();
  if (parser_.is_done()) ended_ = true;
}

sse_client::~sse_client() {
  close();
}

void sse_client::close() {
  boost::beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  ended_ = true;
}

std::string sse_client::header(std::string_view name) const {
  auto& h = parser_.get();
  auto it = h.find(name);
  return it == h.end() ? std::string() : std::string(it->value());
}

bool sse_client::read_some(steady::time_point deadline) {
  if (ended_) return false;
  const auto now = steady::now();
  if (now >= deadline) return false;
  stream_.expires_after(deadline - now);
  boost::beast::error_code result = boost::asio::error::timed_out;
  http::async_read_some(stream_, buffer_, parser_,
                        [&](boost::beast::error_code ec, std::size_t) { result = ec; });
  io_.restart();
  io_.run();
  auto& body = parser_.get().body();
  pending_ += body;
  body.clear();
  if (result == boost::beast::error::timeout) return false;
  if (result || parser_.is_done()) {
    ended_ = true;
    return !pending_.empty();
  }
  return true;
}

std::string sse_client::read_all(std::chrono::milliseconds limit) {
  wait_end(limit);
  return std::exchange(pending_, {});
}

std::optional<sse_event> sse_client::take_block(bool comments) {
  for (;;) {
    auto end = pending_.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    std::string block = pending_.substr(0, end);
    pending_.erase(0, end + 2);
    sse_event ev;
    bool fields = false;
    std::size_t at = 0;
    while (at <= block.size()) {
      auto nl = block.find('\n', at);
      std::string line = block.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
      at = nl == std::string::npos ? block.size() + 1 : nl + 1;
      if (line.empty()) continue;
      if (line[0] == ':') {
        ev.comment = line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1);
        continue;
      }
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      fields = true;
      if (name == "id") ev.id = value;
      if (name == "event") ev.event = value;
      if (name == "data") ev.data += value;
    }
    if (fields || comments) return ev;
  }
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds limit, bool comments) {
  const auto deadline = steady::now() + limit;
  for (;;) {
    if (auto ev = take_block(comments)) return ev;
    if (!read_some(deadline)) return take_block(comments);
  }
}

bool sse_client::wait_end(std::chrono::milliseconds limit) {
  const auto deadline = steady::now() + limit;
  while (!ended_) {
    if (!read_some(deadline) && !ended_) return false;
  }
  return true;
}

}  // namespace tally::test
