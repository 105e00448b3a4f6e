// Test support: a client of one streamed answer (Server-Sent Events over HTTP/1.1 chunked
// encoding, Boost.Beast): sends a GET with the given headers, reads the head, then hands out
// events as they arrive. Every read has a deadline, so a broken server fails a test instead of
// hanging it.
// Thread-safety: one client per thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tally::test {

// One SSE block: its fields, or a comment line (": ping").
struct sse_event {
  std::string id, event, data;
  std::string comment;  // the comment's text when the block is a comment
};

class sse_client {
 public:
  using headers = std::vector<std::pair<std::string, std::string>>;

  // Connects to 127.0.0.1:port, sends GET target and reads the head within `limit` (status()
  // is 0 when none came).
  sse_client(unsigned short port, const std::string& target, const headers& extra = {},
             std::chrono::milliseconds limit = std::chrono::seconds(10));
  ~sse_client();

  int status() const { return status_; }
  std::string header(std::string_view name) const;
  // The body of an answer that is not a stream (a problem), read to its end.
  std::string read_all(std::chrono::milliseconds limit = std::chrono::seconds(10));

  // The next block (comments skipped unless `comments`); nullopt when the answer ended or
  // nothing came within `limit`.
  std::optional<sse_event> next(std::chrono::milliseconds limit = std::chrono::seconds(10),
                                bool comments = false);
  // Reads until the answer ends (last chunk or close): true when it did within `limit`.
  bool wait_end(std::chrono::milliseconds limit = std::chrono::seconds(10));
  bool ended() const { return ended_; }
  // The client goes away.
  void close();

 private:
  // One read into the parser; false when the answer ended or the deadline passed.
  bool read_some(std::chrono::steady_clock::time_point deadline);
  std::optional<sse_event> take_block(bool comments);

  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::response_parser<boost::beast::http::string_body> parser_;
  std::string pending_;  // body text received, not yet handed out
  int status_ = 0;
  bool ended_ = false;
};

}  // namespace tally::test
