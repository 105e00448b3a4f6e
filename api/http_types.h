// The contract between the HTTP server and the handlers: a parsed request with its route's
// path parameters and query, and a one-shot `respond` that may be called from any thread
// (writes answer only after their event is durable, on the producer's delivery thread).
// Handlers are plain functions of (deps, request_ctx, respond): tested without sockets.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tally::api {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(http_response)>;

// The writing end of a streamed answer (e.g. Server-Sent Events), held by whatever produces its
// chunks. Thread-safe; no call blocks: chunks are queued for the connection's thread, which
// writes them (HTTP/1.1 chunked encoding) as fast as the client reads.
class stream_writer {
 public:
  virtual ~stream_writer() = default;
  // Queues a chunk. False when the stream is closed (client gone, server stopping, close()) or
  // the chunk did not fit: the queue holds at most server_options::stream_queue_bytes (a chunk
  // is always taken when the queue is empty); when full, the stream closes after its
  // overflow_chunk, if the client still reads.
  virtual bool write(std::string chunk) = 0;
  // Ends the stream once what is queued is written.
  virtual void close() = 0;
  virtual bool is_open() const = 0;
};

// How a handler starts a streamed answer instead of calling respond_fn.
struct stream_start {
  http_response head;          // status and header fields; the body is ignored
  std::string heartbeat;       // written when the stream was idle for the server's interval
  std::string overflow_chunk;  // the last words when the queue is full (empty: none)
  // Runs once, on the connection's thread, just before the head is written: the producer's
  // writer (what it writes goes out after the head; a client holding the head misses nothing
  // written since).
  std::function<void(std::shared_ptr<stream_writer>)> on_open;
  // Runs once when the stream has ended, however it ended (also when it never opened): the
  // producer lets go of the writer. On the connection's thread, or in stop().
  std::function<void()> on_close;
};

// Starts a stream; like respond_fn, at most once per request (and not both), from any thread.
using stream_fn = std::function<void(stream_start)>;

// Who is calling; filled in by authentication before the handler runs.
enum class role { none, reader, agent, admin };
struct principal {
  role who = role::none;
  std::string team;    // the team the credential is scoped to; empty: the whole org (admins)
  std::string key_id;  // the API key (or the key a JWT was issued for)
  bool org_wide() const { return team.empty() && who == role::admin; }
};

// Name/value pairs in order; lookups are linear (a route has a handful).
struct string_pairs {
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> get(std::string_view name) const {
    for (auto& [k, v] : items) {
      if (k == name) return std::string_view(v);
    }
    return std::nullopt;
  }
};

struct request_ctx {
  http_request req;
  std::string route;   // the route's pattern, e.g. "/api/v1/agents/{agent_id}/budget"
  string_pairs path;   // {agent_id} -> "eng-1" (percent-decoded)
  string_pairs query;  // ?task_id=594 (percent-decoded)
  principal caller;
  // Set when the transport can stream the answer (see stream_start); empty otherwise.
  stream_fn stream;
};

using route_handler = std::function<void(request_ctx&, respond_fn)>;

}  // namespace tally::api
