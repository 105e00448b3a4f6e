// A connection (`session`) is a small state machine on its worker's thread:
//
//   reading --request--> awaiting --respond_fn--> writing --keep-alive--> reading
//      |                     |                       `--close--> lingering --EOF--> closed
//      |                     `--stream_fn--> streaming --EOF/stop/close()--> lingering/closed
//      `--limit/malformed--> writing (problem, Connection: close) --> lingering --> closed
//
// Streaming: the producer's stream_channel (the stream_writer) appends chunks to one string
// under its own small lock and posts a pump to the connection's thread once per batch; the
// connection writes everything queued as one HTTP chunk, then pumps again. A read stays pending
// for the whole stream, so the client's EOF ends it at once.
//
// Ownership: pending async operations and outstanding respond_fns hold the session
// (shared_ptr); the worker's registry holds weak_ptrs, for the timeout sweep and for stop().
// Sessions hold the server state, so an io_context outlives every socket and every
// respond_fn that might post to it; after stop() a respond_fn posts nothing (answers_open), so
// no handler can be left queued in a context that no thread runs.
#include "api/http_server.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pthread.h>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "api/problem.h"
#include "api/response_head.h"

namespace tally::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr std::size_t linger_limit = 1 << 20;  // bytes discarded before closing anyway
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

class session;

// One io thread: its io_context, acceptor, timeout sweep and the sessions living on it.
struct worker {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer sweep{ioc};
  net::steady_timer accept_retry{ioc};
  std::thread thread;

  std::mutex mu;  // guards `sessions` and `answers_open`
  std::list<std::weak_ptr<session>> sessions;
  bool answers_open = true;  // false once stop() gave up waiting: respond_fns post nothing

  // Only touched on the io thread.
  bool stopping = false;  // stop() began: no accepting, close sessions when idle
  bool stopped = false;   // stop() ended: no more sweeps
  std::vector<std::shared_ptr<session>> scratch;

  // The live sessions, as strong references (taken under the lock, used outside it: the last
  // reference to a session may be dropped here, and its destructor takes the lock).
  std::vector<std::shared_ptr<session>>& snapshot() {
    scratch.clear();
    std::lock_guard lock(mu);
    for (auto& weak : sessions) {
      if (auto s = weak.lock()) scratch.push_back(std::move(s));
    }
    return scratch;
  }
};

}  // namespace

struct http_server::state : std::enable_shared_from_this<state> {
  server_options opt;
  stream_dispatch_fn dispatch;
  server_probe probe;
  std::vector<std::unique_ptr<worker>> workers;
  unsigned short port = 0;
  steady::duration tick{};
  bool started = false;
  bool stopped = false;

  std::mutex live_mu;  // `live`: sessions not yet closed (or freed), for stop() to wait on
  std::condition_variable live_cv;
  std::size_t live = 0;
};

namespace {

using state = http_server::state;

// The producer's end of a stream (see the file comment). Every member is guarded by mu_.
class stream_channel final : public stream_writer {
 public:
  stream_channel(std::weak_ptr<session> owner, std::size_t limit, std::string overflow)
      : owner_(std::move(owner)), limit_(limit), overflow_(std::move(overflow)) {}

  bool write(std::string chunk) override {
    bool ok = true;
    {
      std::lock_guard lock(mu_);
      if (closing_ || ended_) return false;
      if (!queued_.empty() && queued_.size() + chunk.size() > limit_) {
        closing_ = true;
        ok = false;
        queued_ += overflow_;
      } else {
        queued_ += chunk;
      }
      if (kicked_) return ok;
      kicked_ = true;
    }
    kick();
    return ok;
  }

  void close() override {
    {
      std::lock_guard lock(mu_);
      if (closing_ || ended_) return;
      closing_ = true;
      if (kicked_) return;
      kicked_ = true;
    }
    kick();
  }

  bool is_open() const override {
    std::lock_guard lock(mu_);
    return !closing_ && !ended_;
  }

  // Connection's thread: appends what is queued to `out`; true once the producer is done.
  bool take(std::string& out) {
    std::lock_guard lock(mu_);
    kicked_ = false;
    if (out.empty()) {
      out.swap(queued_);
    } else {
      out += queued_;
      queued_.clear();
    }
    return closing_;
  }

  // Connection's thread: queues the heartbeat when nothing else is queued.
  void heartbeat(const std::string& chunk) {
    std::lock_guard lock(mu_);
    if (queued_.empty() && !closing_ && !ended_) queued_ = chunk;
  }

  // Connection's thread: the connection is gone; writes fail from now on.
  void shut() {
    std::lock_guard lock(mu_);
    ended_ = true;
    queued_.clear();
  }

 private:
  void kick();

  mutable std::mutex mu_;
  std::weak_ptr<session> owner_;
  const std::size_t limit_;
  const std::string overflow_;
  std::string queued_;
  bool closing_ = false;  // close() or overflow: what is queued is the end
  bool ended_ = false;    // the connection closed
  bool kicked_ = false;   // a pump is posted and has not taken the queue yet
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<state> st, worker& w, tcp::socket socket)
      : st_(std::move(st)),
        w_(w),
        socket_(std::move(socket)),
        buffer_(st_->opt.header_limit + 65536) {
    {
      std::lock_guard lock(st_->live_mu);
      ++st_->live;
    }
    st_->probe.connections_open.fetch_add(1, std::memory_order_relaxed);
  }

  ~session() {
    if (phase_ == phase::awaiting) st_->probe.unanswered.fetch_add(1, std::memory_order_relaxed);
    end_stream();
    st_->probe.connections_open.fetch_sub(1, std::memory_order_relaxed);
    if (registered_) {
      std::lock_guard lock(w_.mu);
      w_.sessions.erase(registration_);
    }
    leave_live();
  }

  // io thread
  void start() {
    {
      std::lock_guard lock(w_.mu);
      registration_ = w_.sessions.insert(w_.sessions.end(), weak_from_this());
      registered_ = true;
    }
    read_next();
  }

  // Any thread: the answer to request `seq`.
  void answer(std::uint64_t seq, http_response res) {
    const bool here = w_.ioc.get_executor().running_in_this_thread();
    {
      std::lock_guard lock(w_.mu);
      if (!w_.answers_open) return;
      if (!here) {
        net::post(w_.ioc, [self = shared_from_this(), seq, res = std::move(res)]() mutable {
          self->on_answer(seq, std::move(res));
        });
        return;
      }
    }
    on_answer(seq, std::move(res));
  }

  // Any thread: a streamed answer to request `seq`.
  void stream_answer(std::uint64_t seq, stream_start start) {
    {
      std::lock_guard lock(w_.mu);
      if (w_.answers_open) {
        net::post(w_.ioc, [self = shared_from_this(), seq, start = std::move(start)]() mutable {
          self->on_stream(seq, std::move(start));
        });
        return;
      }
    }
    if (start.on_close) start.on_close();  // the server has stopped: it never opens
  }

  // Any thread: the stream has chunks (or was closed); pump them on the io thread.
  void kick_stream() {
    std::lock_guard lock(w_.mu);
    if (!w_.answers_open) return;
    net::post(w_.ioc, [self = shared_from_this()] { self->pump(); });
  }

  // io thread: stop() began. Idle connections close now, the others after their answer;
  // streams end now.
  void on_stop() {
    stopping_ = true;
    if ((phase_ == phase::reading && idle_) || phase_ == phase::lingering) close();
    if (phase_ == phase::streaming) {
      stream_->close();
      pump();
    }
  }

  // io thread: stop() is over.
  void force_close() { close(); }

  // io thread: the sweep.
  void check_deadline(steady::time_point now) {
    if (phase_ == phase::streaming && !writing_ && opened_ && !heartbeat_.empty() &&
        now >= next_ping_) {
      stream_->heartbeat(heartbeat_);
      next_ping_ = now + opt().stream_heartbeat;
      pump();
    }
    if (phase_ == phase::closed || now < deadline_) return;
    if ((phase_ == phase::reading && !idle_) || phase_ == phase::writing ||
        (phase_ == phase::streaming && writing_)) {
      st_->probe.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    close();
  }

 private:
  enum class phase { reading, awaiting, writing, streaming, lingering, closed };

  const server_options& opt() const { return st_->opt; }

  void read_next() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(opt().header_limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(opt().body_limit);
    parser_->eager(true);
    phase_ = phase::reading;
    continue_sent_ = false;
    idle_ = buffer_.size() == 0;
    if (idle_ && stopping_) return close();
    deadline_ = steady::now() + (idle_ ? opt().idle_timeout : opt().read_timeout);
    if (buffer_.capacity() > 65536 && buffer_.size() == 0) buffer_.shrink_to_fit();
    parse();
  }

  // Feeds buffered bytes to the parser; reads more when it needs more.
  void parse() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return on_parse_error(ec);
      if (parser_->is_done()) return dispatch_request();
      if (used == 0) break;
    }
    if (parser_->is_header_done() && !continue_sent_) {
      continue_sent_ = true;
      auto& req = parser_->get();
      if (req.version() == 11 && beast::iequals(req[http::field::expect], "100-continue")) {
        net::async_write(socket_, net::buffer(continue_100.data(), continue_100.size()),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           if (self->phase_ == phase::closed) return;
                           if (ec) return self->close();
                           self->read_some();
                         });
        return;
      }
    }
    read_some();
  }

  void read_some() {
    std::size_t want = beast::read_size(buffer_, 65536);
    if (parser_->is_header_done()) {  // a body: read in larger chunks
      want = std::max(want, std::min<std::size_t>(65536, buffer_.max_size() - buffer_.size()));
    }
    if (want == 0) return on_parse_error(http::error::header_limit);  // buffer full of header
    socket_.async_read_some(
        buffer_.prepare(want),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (phase_ == phase::closed) return;
    if (ec) return close();  // EOF (between or within requests), reset, aborted
    buffer_.commit(n);
    if (idle_) {  // the first byte of a request: from now on the read timeout counts
      idle_ = false;
      deadline_ = steady::now() + opt().read_timeout;
    }
    parse();
  }

  void on_parse_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      reject(http::status::payload_too_large, "payload-too-large", "Payload Too Large",
             "the request body is larger than " + std::to_string(opt().body_limit) + " bytes");
    } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      reject(http::status::request_header_fields_too_large, "headers-too-large",
             "Request Header Fields Too Large",
             "the request line and header are larger than " + std::to_string(opt().header_limit) +
                 " bytes");
    } else {
      reject(http::status::bad_request, "malformed-request", "Bad Request",
             "the request is not valid HTTP/1.1: " + ec.message());
    }
  }

  // The server's own answer to a request it could not read; the connection closes after it.
  void reject(http::status status, std::string_view slug, std::string_view title,
              const std::string& detail) {
    st_->probe.rejected.fetch_add(1, std::memory_order_relaxed);
    keep_alive_ = false;
    head_ = false;
    version_ = 11;
    write(problem(status, slug, title, detail));
  }

  void dispatch_request() {
    http_request req = parser_->release();
    keep_alive_ = req.keep_alive() && !stopping_;
    head_ = req.method() == http::verb::head;
    version_ = req.version() == 10 ? 10 : 11;
    phase_ = phase::awaiting;
    deadline_ = steady::time_point::max();
    const std::uint64_t seq = ++seq_;
    st_->probe.requests.fetch_add(1, std::memory_order_relaxed);
    try {
      st_->dispatch(
          std::move(req),
          [self = shared_from_this(), seq](http_response res) {
            self->answer(seq, std::move(res));
          },
          [self = shared_from_this(), seq](stream_start start) {
            self->stream_answer(seq, std::move(start));
          });
    } catch (const std::exception& e) {
      spdlog::error("http: dispatch threw: {}", e.what());
      on_answer(seq, internal_error());
    } catch (...) {
      spdlog::error("http: dispatch threw");
      on_answer(seq, internal_error());
    }
  }

  static http_response internal_error() {
    return problem(http::status::internal_server_error, "internal", "Internal Error",
                   "the request could not be handled");
  }

  void on_answer(std::uint64_t seq, http_response res) {
    if (phase_ != phase::awaiting || seq != seq_) return;  // a second call, or closed
    if (http::token_list(res[http::field::connection]).exists("close")) {
      keep_alive_ = false;  // the handler asked to close
    }
    write(std::move(res));
  }

  void write(http_response res) {
    res_ = std::move(res);
    res_.version(version_);
    if (stopping_) keep_alive_ = false;
    res_.keep_alive(keep_alive_);
    if (!res_.has_content_length() && !res_.chunked()) res_.prepare_payload();
    if (head_) res_.body().clear();  // Content-Length stays: the size a GET would get
    phase_ = phase::writing;
    deadline_ = steady::now() + opt().write_timeout;
    auto done = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    };
    // "Server: tally" unless the answer names its own server.
    const bool has_server = res_.find(http::field::server) != res_.end();
    if (res_.chunked()) {
      if (!has_server) res_.set(http::field::server, "tally");
      serializer_.emplace(res_);
      http::async_write(socket_, *serializer_, std::move(done));
      return;
    }
    // The head and the body in one gathered write (response_head.h).
    head_text_.clear();
    append_response_head(head_text_, res_.base(), has_server ? "" : "Server: tally\r\n");
    const std::array<net::const_buffer, 2> parts{net::buffer(head_text_), net::buffer(res_.body())};
    net::async_write(socket_, parts, std::move(done));
  }

  // io thread: the handler answered with a stream. The producer gets its writer, then the head
  // goes out, then what the producer queued.
  void on_stream(std::uint64_t seq, stream_start start) {
    if (phase_ != phase::awaiting || seq != seq_) {  // a second answer, or closed
      if (start.on_close) start.on_close();
      return;
    }
    phase_ = phase::streaming;
    st_->probe.streams_open.fetch_add(1, std::memory_order_relaxed);
    stream_counted_ = true;
    keep_alive_ = false;
    chunked_ = version_ == 11 && !head_;
    heartbeat_ = std::move(start.heartbeat);
    on_open_ = std::move(start.on_open);
    on_close_ = std::move(start.on_close);
    stream_ = std::make_shared<stream_channel>(weak_from_this(), opt().stream_queue_bytes,
                                               std::move(start.overflow_chunk));
    stream_head_.emplace(std::move(start.head.base()));
    auto& h = *stream_head_;
    h.version(version_);
    h.erase(http::field::content_length);
    h.set(http::field::server, "tally");
    h.keep_alive(false);
    if (chunked_) h.chunked(true);
    // The producer starts before the head goes out: a client that has the head gets whatever
    // is written after that.
    if (!stopping_ && !head_) {
      opened_ = true;
      if (auto open = std::exchange(on_open_, nullptr)) open(stream_);
    }
    writing_ = true;
    deadline_ = steady::now() + opt().write_timeout;
    stream_sr_.emplace(h);
    http::async_write_header(socket_, *stream_sr_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_stream_head(ec);
                             });
  }

  void on_stream_head(beast::error_code ec) {
    writing_ = false;
    stream_sr_.reset();
    if (phase_ == phase::closed) return;
    if (ec) return close();
    deadline_ = steady::time_point::max();
    next_ping_ = steady::now() + opt().stream_heartbeat;
    buffer_.consume(buffer_.size());  // pipelined requests are not served after a stream
    watch_stream();
    if (head_) return end_stream_connection();  // HEAD: the header is the whole answer
    if (stopping_) stream_->close();
    pump();
  }

  // A read pending for the whole stream: the client's EOF (or reset) ends it. Bytes the client
  // sends meanwhile are discarded.
  void watch_stream() {
    socket_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (self->phase_ == phase::closed) return;
                              self->lingered_ += n;
                              if (ec || self->lingered_ > linger_limit) return self->close();
                              self->watch_stream();
                            });
  }

  // io thread: writes what the stream queued, as one chunk; ends the stream once it is closed
  // and drained.
  void pump() {
    if (phase_ != phase::streaming || writing_) return;
    stream_out_.clear();
    const bool done = stream_->take(stream_out_);
    if (!stream_out_.empty()) {
      writing_ = true;
      deadline_ = steady::now() + opt().write_timeout;
      auto on_done = [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_stream_write(ec);
      };
      if (chunked_) {
        net::async_write(socket_, http::make_chunk(net::buffer(stream_out_)), std::move(on_done));
      } else {
        net::async_write(socket_, net::buffer(stream_out_), std::move(on_done));
      }
      return;
    }
    if (!done) return;
    if (!chunked_) return end_stream_connection();
    writing_ = true;
    deadline_ = steady::now() + opt().write_timeout;
    net::async_write(socket_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (self->phase_ == phase::closed) return;
                       if (ec) return self->close();
                       self->end_stream_connection();
                     });
  }

  void on_stream_write(beast::error_code ec) {
    writing_ = false;
    if (phase_ == phase::closed) return;
    if (ec) return close();
    deadline_ = steady::time_point::max();
    next_ping_ = steady::now() + opt().stream_heartbeat;
    pump();
  }

  // The stream is over: half-close; the pending read closes the connection on the client's EOF
  // (or the linger deadline does).
  void end_stream_connection() {
    end_stream();
    phase_ = phase::lingering;
    deadline_ =
        steady::now() + std::min<steady::duration>(opt().read_timeout, std::chrono::seconds(2));
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    if (stopping_) close();
  }

  // Tells the producer, once, that the stream has ended.
  void end_stream() {
    if (stream_) stream_->shut();
    if (stream_counted_) {
      stream_counted_ = false;
      st_->probe.streams_open.fetch_sub(1, std::memory_order_relaxed);
    }
    on_open_ = nullptr;
    if (auto f = std::exchange(on_close_, nullptr)) f();
  }

  void on_write(beast::error_code ec) {
    serializer_.reset();
    res_ = {};
    if (phase_ == phase::closed) return;
    if (ec) return close();
    if (keep_alive_) return read_next();
    if (stopping_) return close();
    linger();
  }

  // Half-close, then read and discard until the client closes too: closing with unread input
  // would send a reset that can destroy the answer before the client reads it.
  void linger() {
    phase_ = phase::lingering;
    deadline_ =
        steady::now() + std::min<steady::duration>(opt().read_timeout, std::chrono::seconds(2));
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.consume(buffer_.size());
    drain();
  }

  void drain() {
    socket_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (self->phase_ == phase::closed) return;
                              self->lingered_ += n;
                              if (ec || self->lingered_ > linger_limit) return self->close();
                              self->drain();
                            });
  }

  void close() {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    end_stream();
    leave_live();
  }

  // stop() waits for connections to close, not to be freed: a respond_fn kept after its call
  // holds a closed session.
  void leave_live() {
    if (left_live_) return;
    left_live_ = true;
    std::lock_guard lock(st_->live_mu);
    if (--st_->live == 0) st_->live_cv.notify_all();
  }

  // Declared first so that it is destroyed last: the socket needs its io_context.
  std::shared_ptr<state> st_;
  worker& w_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http_response res_;
  std::string head_text_;  // res_'s head as sent (response_head.h)
  std::optional<http::response_serializer<http::string_body>> serializer_;  // chunked answers
  // A streamed answer (phase streaming).
  std::shared_ptr<stream_channel> stream_;
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> stream_sr_;
  std::string stream_out_;  // the chunk being written
  std::string heartbeat_;
  std::function<void(std::shared_ptr<stream_writer>)> on_open_;
  std::function<void()> on_close_;
  steady::time_point next_ping_ = steady::time_point::max();
  bool chunked_ = false;
  bool writing_ = false;  // a stream write (head, chunk or last chunk) is on the wire
  bool opened_ = false;   // on_open ran
  bool stream_counted_ = false;

  phase phase_ = phase::reading;
  steady::time_point deadline_ = steady::time_point::max();
  std::uint64_t seq_ = 0;  // the request being answered; older respond_fns are ignored
  std::size_t lingered_ = 0;
  unsigned version_ = 11;
  bool idle_ = true;  // no byte of the next request yet: the idle timeout applies
  bool keep_alive_ = true;
  bool head_ = false;
  bool stopping_ = false;
  bool continue_sent_ = false;
  bool registered_ = false;
  bool left_live_ = false;
  std::list<std::weak_ptr<session>>::iterator registration_;
};

void stream_channel::kick() {
  if (auto s = owner_.lock()) s->kick_stream();
}

void accept_next(state& st, worker& w);

void on_accept(state& st, worker& w, beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || w.stopping) return;
  if (ec) {  // e.g. out of file descriptors: back off instead of spinning
    spdlog::warn("http: accept failed: {}", ec.message());
    w.accept_retry.expires_after(std::chrono::milliseconds(50));
    w.accept_retry.async_wait([&st, &w](beast::error_code ec) {
      if (!ec && !w.stopping) accept_next(st, w);
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  st.probe.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<session>(st.shared_from_this(), w, std::move(socket))->start();
  accept_next(st, w);
}

void accept_next(state& st, worker& w) {
  w.acceptor.async_accept(w.ioc, [&st, &w](beast::error_code ec, tcp::socket socket) {
    on_accept(st, w, ec, std::move(socket));
  });
}

void arm_sweep(state& st, worker& w) {
  w.sweep.expires_after(st.tick);
  w.sweep.async_wait([&st, &w](beast::error_code ec) {
    if (ec || w.stopped) return;
    const auto now = steady::now();
    for (auto& s : w.snapshot()) s->check_deadline(now);
    w.scratch.clear();
    arm_sweep(st, w);
  });
}

tcp::endpoint resolve(const server_options& opt) {
  beast::error_code ec;
  auto addr = net::ip::make_address(opt.host, ec);
  if (!ec) return {addr, opt.port};
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(opt.host, std::to_string(opt.port));  // throws if unknown
  return results.begin()->endpoint();
}

}  // namespace

http_server::http_server(server_options options, dispatch_fn dispatch)
    : http_server(std::move(options),
                  [d = std::move(dispatch)](http_request req, respond_fn respond, stream_fn) {
                    d(std::move(req), std::move(respond));
                  }) {}

http_server::http_server(server_options options, stream_dispatch_fn dispatch)
    : state_(std::make_shared<state>()) {
  state_->opt = std::move(options);
  state_->dispatch = std::move(dispatch);
  auto shortest =
      std::min<steady::duration>({state_->opt.read_timeout, state_->opt.idle_timeout,
                                  state_->opt.write_timeout, state_->opt.stream_heartbeat});
  state_->tick = std::clamp<steady::duration>(shortest / 4, std::chrono::milliseconds(10),
                                              std::chrono::seconds(1));
}

http_server::~http_server() {
  stop();
}

void http_server::start() {
  state& st = *state_;
  if (st.started) throw std::logic_error("http_server::start called twice");
  st.started = true;
  tcp::endpoint endpoint = resolve(st.opt);
  const int threads = std::max(1, st.opt.threads);
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<worker>();
    w->acceptor.open(endpoint.protocol());
    w->acceptor.set_option(net::socket_base::reuse_address(true));
    w->acceptor.set_option(reuse_port(true));
    w->acceptor.bind(endpoint);
    w->acceptor.listen(net::socket_base::max_listen_connections);
    if (i == 0) {
      st.port = w->acceptor.local_endpoint().port();
      endpoint.port(st.port);  // the others join the port the first one got
    }
    st.workers.push_back(std::move(w));
  }
  for (auto& w : st.workers) {
    accept_next(st, *w);
    arm_sweep(st, *w);
  }
  for (auto& w : st.workers) {
    w->thread = std::thread([w = w.get()] {
      pthread_setname_np(pthread_self(), "tally-http");
      for (;;) {
        try {
          w->ioc.run();  // returns when stop() has closed everything
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: io thread: {}", e.what());
        }
      }
    });
  }
}

unsigned short http_server::port() const {
  return state_->port;
}

const server_probe& http_server::probe() const {
  return state_->probe;
}

void http_server::stop() {
  state& st = *state_;
  if (!st.started || st.stopped) return;
  st.stopped = true;

  // 1. Stop accepting; idle connections close, busy ones close after their answer.
  for (auto& w : st.workers) {
    net::post(w->ioc, [w = w.get()] {
      w->stopping = true;
      beast::error_code ignored;
      w->acceptor.close(ignored);
      w->accept_retry.cancel();
      for (auto& s : w->snapshot()) s->on_stop();
      w->scratch.clear();
    });
  }
  // 2. Let requests in flight get their answers, for a while.
  {
    std::unique_lock lock(st.live_mu);
    st.live_cv.wait_for(lock, st.opt.shutdown_timeout, [&] { return st.live == 0; });
  }
  // 3. Refuse late answers, close what is left; the io_contexts then run out of work.
  for (auto& w : st.workers) {
    {
      std::lock_guard lock(w->mu);
      w->answers_open = false;
    }
    net::post(w->ioc, [w = w.get()] {
      w->stopped = true;
      w->sweep.cancel();
      for (auto& s : w->snapshot()) s->force_close();
      w->scratch.clear();
    });
  }
  for (auto& w : st.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace tally::api
