// The Boost.Beast HTTP/1.1 server: accepts connections, parses requests within limits and
// hands each one, with a one-shot respond_fn, to a single dispatch function. It knows nothing
// about routes, credentials or handlers.
//
// Operation: one io_context per thread, each with its own SO_REUSEPORT acceptor on the same
// port (the kernel spreads connections; no strand is needed since a connection lives on one
// thread). A connection reads one request, dispatches it, waits for its answer, writes it,
// then reads the next (keep-alive) or closes. Pipelined requests therefore get answers in
// order: the bytes of the next request wait in the connection's buffer.
//
// Concurrency: dispatch runs on an io thread, concurrently for different connections, and
// must not block. The respond_fn it gets may be called from any thread, at most once per
// request (further calls are ignored), now or later; the write is posted to the connection's
// thread. A respond_fn keeps its connection alive; if every copy is dropped without a call,
// the connection is closed without an answer (the client sees EOF) and freed. A respond_fn
// called after stop() is a no-op, and may outlive the server: what it holds stays valid.
//
// Limits: body over body_limit -> 413, header over header_limit -> 431, malformed -> 400,
// each followed by Connection: close. A request not complete read_timeout after its first
// byte, or an answer not written within write_timeout, drops the connection; a keep-alive
// connection with no request for idle_timeout is closed. Timeouts are checked by a sweep
// every ~1/4 of the shortest timeout (at most 1 s), so they fire up to that much late.
// No limit on the number of connections (the OS file limit is the limit).
//
// Streams: a handler given a stream_fn (stream_dispatch_fn) may answer with a stream_start
// instead: the head goes out with Transfer-Encoding: chunked and Connection: close (HTTP/1.0:
// no chunking, the body ends at close), then the chunks its stream_writer queues, batched into
// one write while the previous one is on the wire. The queue is bounded (stream_queue_bytes);
// a producer never waits for a slow client. A write not done within write_timeout drops the
// connection; the heartbeat chunk goes out after stream_heartbeat without data; the client's
// EOF ends the stream. stop() ends streams at once (the last chunk, then close), it does not
// wait for them to end by themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/http_types.h"

namespace tally::api {

struct server_options {
  std::string host = "127.0.0.1";            // address to listen on (numeric or a host name)
  unsigned short port = 8000;                // 0: the OS picks a free port (see port())
  int threads = 2;                           // io threads, one io_context and acceptor each
  std::size_t body_limit = 1 << 20;          // largest request body, bytes (else 413)
  std::size_t header_limit = 16 << 10;       // largest request line + header, bytes (else 431)
  std::chrono::seconds read_timeout{10};     // first byte to complete request
  std::chrono::seconds idle_timeout{60};     // keep-alive connection waiting for a request
  std::chrono::seconds write_timeout{10};    // writing one answer
  std::chrono::seconds shutdown_timeout{5};  // stop(): how long in-flight requests may take
  std::size_t stream_queue_bytes = 1 << 20;  // a stream's unwritten chunks, at most (then closed)
  std::chrono::milliseconds stream_heartbeat{15'000};  // idle stream: its heartbeat chunk
};

// Called once per request on an io thread; must eventually call (or drop) `respond`.
using dispatch_fn = std::function<void(http_request req, respond_fn respond)>;
// The same, with a stream_fn for handlers that answer with a stream (see stream_start).
using stream_dispatch_fn =
    std::function<void(http_request req, respond_fn respond, stream_fn stream)>;

// Counters for /metrics; relaxed atomics, readable from any thread.
struct server_probe {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> requests{0};     // dispatched
  std::atomic<std::uint64_t> rejected{0};     // answered 400/413/431 by the server itself
  std::atomic<std::uint64_t> timeouts{0};     // connections dropped by a read/write timeout
  std::atomic<std::uint64_t> unanswered{0};   // respond_fn dropped without a call
  std::atomic<std::int64_t> streams_open{0};  // streamed answers being written
};

class http_server {
 public:
  http_server(server_options options, dispatch_fn dispatch);
  http_server(server_options options, stream_dispatch_fn dispatch);
  ~http_server();  // stop()s if running
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds, listens and starts the io threads. Throws boost::system::system_error when the
  // address cannot be bound. Call once.
  void start();
  // The bound port (after start()).
  unsigned short port() const;
  // Graceful: stop accepting, close idle connections, let requests in flight be answered
  // (for up to shutdown_timeout), then close everything and join the io threads. Idempotent;
  // must not be called from an io thread (dispatch).
  void stop();

  const server_probe& probe() const;

  struct state;  // shared with connections and respond_fns; defined in the .cc

 private:
  std::shared_ptr<state> state_;
};

}  // namespace tally::api
