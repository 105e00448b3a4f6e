// The HTTP server over real sockets on 127.0.0.1 (port 0): keep-alive, pipelining with late
// answers from other threads, limits answered with problems, timeouts, graceful stop, and
// respond_fns called late, twice or never. A small Beast client with its own io_context reads
// with a deadline, so a broken server fails a test instead of hanging it.
#include "api/http_server.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json/parse.hpp>

#include "api/problem.h"
#include "tests/support/sse_client.h"

namespace tally::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

http_response text(std::string body) {
  http_response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// A blocking-style client whose reads give up after a deadline.
class test_client {
 public:
  explicit test_client(unsigned short port) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void send(std::string_view raw) { net::write(socket_, net::buffer(raw.data(), raw.size())); }

  // The next answer; nullopt if the connection closed first or nothing came in time.
  // `head`: the answer to a HEAD request (a header only, whatever its Content-Length).
  std::optional<http::response<http::string_body>> read(std::chrono::seconds limit = 10s,
                                                        bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    beast::error_code result;
    bool done = run(limit, [&](auto on_done) {
      http::async_read(socket_, buffer_, parser, [&, on_done](beast::error_code ec, std::size_t) {
        result = ec;
        on_done();
      });
    });
    if (!done || result) return std::nullopt;
    return parser.release();
  }

  // Reads until the server closes the connection: true if it did within `limit`.
  bool closed_by_server(std::chrono::seconds limit = 10s) {
    std::function<void(beast::error_code, std::size_t)> on_read;
    std::function<void()> finish;
    bool done = run(limit, [&](auto on_done) {
      finish = on_done;
      on_read = [&](beast::error_code ec, std::size_t) {
        if (ec) return finish();
        socket_.async_read_some(net::buffer(scratch_), on_read);
      };
      buffer_.clear();
      socket_.async_read_some(net::buffer(scratch_), on_read);
    });
    return done;
  }

 private:
  // Starts an operation and runs the client's io_context until it is done or time is up.
  template <class Start>
  bool run(std::chrono::seconds limit, Start start) {
    bool done = false;
    ioc_.restart();
    start([&done] { done = true; });
    ioc_.run_for(limit);
    if (!done) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
      return false;
    }
    return true;
  }

  net::io_context ioc_;
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
  char scratch_[4096];
};

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

std::string problem_slug(const http::response<http::string_body>& res) {
  std::string type(boost::json::parse(res.body()).at("type").as_string());
  return type.substr(type.rfind('/') + 1);
}

// Requests the dispatch parked, for the test thread to answer when it chooses.
struct parked_requests {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, respond_fn>> items;
  std::vector<std::string> seen;  // every target dispatched, in order

  void park(const http_request& req, respond_fn respond) {
    std::lock_guard lock(mu);
    items.emplace_back(std::string(req.target()), std::move(respond));
    cv.notify_all();
  }
  void note(const http_request& req) {
    std::lock_guard lock(mu);
    seen.emplace_back(req.target());
  }
  std::pair<std::string, respond_fn> take() {
    std::unique_lock lock(mu);
    bool got = cv.wait_for(lock, 10s, [&] { return !items.empty(); });
    if (!got) return {};
    auto item = std::move(items.front());
    items.pop_front();
    return item;
  }
  std::vector<std::string> dispatched() {
    std::lock_guard lock(mu);
    return seen;
  }
};

std::unique_ptr<http_server> serve(server_options opt, dispatch_fn dispatch) {
  opt.port = 0;
  auto server = std::make_unique<http_server>(std::move(opt), std::move(dispatch));
  server->start();
  return server;
}

// Answers every request at once with "<METHOD> <target>".
void echo(http_request req, respond_fn respond) {
  respond(text(std::string(req.method_string()) + " " + std::string(req.target())));
}

TEST(HttpServer, answers_on_the_bound_port_with_server_header) {
  auto server = serve({}, echo);
  ASSERT_NE(server->port(), 0);
  test_client c(server->port());
  c.send(get("/hello?x=1"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), http::status::ok);
  EXPECT_EQ(res->body(), "GET /hello?x=1");
  EXPECT_EQ((*res)[http::field::server], "tally");
  EXPECT_TRUE(res->keep_alive());
}

TEST(HttpServer, keep_alive_serves_several_requests_on_one_connection) {
  auto server = serve({}, echo);
  test_client c(server->port());
  for (int i = 0; i < 5; ++i) {
    c.send(get("/n/" + std::to_string(i)));
    auto res = c.read();
    ASSERT_TRUE(res) << i;
    EXPECT_EQ(res->body(), "GET /n/" + std::to_string(i));
  }
  EXPECT_EQ(server->probe().connections_accepted.load(), 1u);
  EXPECT_EQ(server->probe().requests.load(), 5u);
}

TEST(HttpServer, pipelined_requests_are_answered_in_order) {
  // /1 is answered later from another thread; /2 at once on the io thread; /3 from a third
  // thread. One request at a time per connection keeps the answers in order.
  parked_requests parked;
  auto server = serve({}, [&](http_request req, respond_fn respond) {
    parked.note(req);
    if (req.target() == "/2") return respond(text("two"));
    parked.park(req, std::move(respond));
  });
  test_client c(server->port());
  c.send(get("/1") + get("/2") + get("/3"));

  auto [first, respond_first] = parked.take();
  ASSERT_EQ(first, "/1");
  EXPECT_EQ(parked.dispatched(), std::vector<std::string>{"/1"});  // /2 waits in the buffer
  std::thread([r = std::move(respond_first)] { r(text("one")); }).join();

  auto [third, respond_third] = parked.take();
  ASSERT_EQ(third, "/3");
  std::thread([r = std::move(respond_third)] { r(text("three")); }).join();

  for (auto expected : {"one", "two", "three"}) {
    auto res = c.read();
    ASSERT_TRUE(res) << expected;
    EXPECT_EQ(res->body(), expected);
  }
  EXPECT_EQ(parked.dispatched(), (std::vector<std::string>{"/1", "/2", "/3"}));
}

TEST(HttpServer, respond_from_other_threads_under_concurrent_clients) {
  std::mutex mu;
  std::vector<std::thread> responders;
  auto server = serve({.threads = 2}, [&](http_request req, respond_fn respond) {
    std::string target(req.target());
    if (target.back() % 2) return respond(text(target));  // odd: inline
    std::lock_guard lock(mu);
    responders.emplace_back([respond = std::move(respond), target] { respond(text(target)); });
  });
  constexpr int clients = 4, requests = 50;
  std::vector<std::future<int>> done;
  for (int k = 0; k < clients; ++k) {
    done.push_back(std::async(std::launch::async, [&, k] {
      test_client c(server->port());
      int ok = 0;
      for (int i = 0; i < requests; ++i) {
        std::string target = "/c" + std::to_string(k) + "/" + std::to_string(i);
        c.send(get(target));
        auto res = c.read();
        ok += res && res->body() == target;
      }
      return ok;
    }));
  }
  for (auto& f : done) EXPECT_EQ(f.get(), requests);
  std::lock_guard lock(mu);
  for (auto& t : responders) t.join();
}

TEST(HttpServer, body_over_the_limit_is_413_then_close) {
  auto server = serve({.body_limit = 1024}, echo);
  test_client c(server->port());
  c.send(
      "POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 5000\r\n\r\n" +
      std::string(5000, 'x'));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), http::status::payload_too_large);
  EXPECT_EQ(problem_slug(*res), "payload-too-large");
  EXPECT_EQ((*res)[http::field::connection], "close");
  EXPECT_EQ((*res)[http::field::server], "tally");
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(server->probe().requests.load(), 0u);

  // A chunked body has no length up front: refused once it passes the limit.
  test_client chunked(server->port());
  std::string chunk = "400\r\n" + std::string(1024, 'y') + "\r\n";
  chunked.send("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk);
  auto res2 = chunked.read();
  ASSERT_TRUE(res2);
  EXPECT_EQ(res2->result(), http::status::payload_too_large);
  EXPECT_TRUE(chunked.closed_by_server());
}

TEST(HttpServer, body_at_the_limit_is_served) {
  auto server = serve({.body_limit = 1024}, [](http_request req, respond_fn respond) {
    respond(text(std::to_string(req.body().size())));
  });
  test_client c(server->port());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'x'));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "1024");
}

TEST(HttpServer, header_over_the_limit_is_431_then_close) {
  auto server = serve({.header_limit = 1024}, echo);
  test_client c(server->port());
  c.send(get("/", "X-Big: " + std::string(4000, 'a') + "\r\n"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), http::status::request_header_fields_too_large);
  EXPECT_EQ(problem_slug(*res), "headers-too-large");
  EXPECT_EQ((*res)[http::field::connection], "close");
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, malformed_request_is_400_then_close) {
  auto server = serve({}, echo);
  for (std::string raw : {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "GET /\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}) {
    test_client c(server->port());
    c.send(raw);
    auto res = c.read();
    ASSERT_TRUE(res) << raw;
    EXPECT_EQ(res->result(), http::status::bad_request) << raw;
    EXPECT_EQ(problem_slug(*res), "malformed-request");
    EXPECT_EQ((*res)[http::field::connection], "close");
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_EQ(server->probe().rejected.load(), 3u);
}

TEST(HttpServer, connection_close_and_http10_close_after_the_answer) {
  auto server = serve({}, echo);
  {
    test_client c(server->port());
    c.send(get("/bye", "Connection: close\r\n"));
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ((*res)[http::field::connection], "close");
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    test_client c(server->port());
    c.send("GET /old HTTP/1.0\r\n\r\n");
    auto res = c.read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->version(), 10);
    EXPECT_EQ(res->body(), "GET /old");
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // HTTP/1.0 asking for keep-alive gets it
    test_client c(server->port());
    for (int i = 0; i < 2; ++i) {
      c.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      auto res = c.read();
      ASSERT_TRUE(res) << i;
      EXPECT_EQ((*res)[http::field::connection], "keep-alive");
    }
  }
}

TEST(HttpServer, handler_asking_to_close_closes) {
  auto server = serve({}, [](http_request, respond_fn respond) {
    auto res = text("last");
    res.set(http::field::connection, "close");
    respond(std::move(res));
  });
  test_client c(server->port());
  c.send(get("/"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "last");
  EXPECT_TRUE(c.closed_by_server());
}

TEST(HttpServer, expect_100_continue_gets_an_interim_answer) {
  auto server =
      serve({}, [](http_request req, respond_fn respond) { respond(text("got " + req.body())); });
  test_client c(server->port());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result(), http::status::continue_);
  c.send("hello");
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "got hello");
}

TEST(HttpServer, slow_client_is_dropped_after_read_timeout_while_others_are_served) {
  auto server = serve({.read_timeout = 1s}, echo);
  const auto start = steady::now();
  test_client slow(server->port());
  slow.send("GET /slow HTTP/1.1\r\nHost: t\r\nX-Trickle: ");  // and nothing more

  test_client other(server->port());
  other.send(get("/meanwhile"));
  auto res = other.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "GET /meanwhile");
  EXPECT_EQ(server->probe().timeouts.load(), 0u);  // served while the slow one still hangs

  EXPECT_TRUE(slow.closed_by_server(10s));
  EXPECT_GE(steady::now() - start, 900ms);
  EXPECT_EQ(server->probe().timeouts.load(), 1u);

  // Stopping mid-body is the same.
  test_client mid_body(server->port());
  mid_body.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789");
  EXPECT_TRUE(mid_body.closed_by_server(10s));
  EXPECT_EQ(server->probe().timeouts.load(), 2u);
  EXPECT_EQ(server->probe().requests.load(), 1u);
}

TEST(HttpServer, idle_keep_alive_connection_is_closed_after_idle_timeout) {
  auto server = serve({.idle_timeout = 1s}, echo);
  test_client c(server->port());
  c.send(get("/"));
  ASSERT_TRUE(c.read());
  const auto answered = steady::now();
  EXPECT_TRUE(c.closed_by_server(10s));
  EXPECT_GE(steady::now() - answered, 900ms);
  EXPECT_EQ(server->probe().timeouts.load(), 0u);  // idle is not a timeout
}

// True once no io thread accepts connections on the port any more: each has begun stopping
// (its acceptor closes in the same step that marks its sessions stopping).
bool refuses_connections(unsigned short port, std::chrono::seconds limit = 10s) {
  const auto deadline = steady::now() + limit;
  net::io_context ioc;
  do {
    tcp::socket s(ioc);
    beast::error_code ec;
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return true;
    s.close(ec);
    std::this_thread::yield();
  } while (steady::now() < deadline);
  return false;
}

TEST(HttpServer, graceful_stop_answers_the_request_in_flight) {
  parked_requests parked;
  auto server = serve({.threads = 2}, [&](http_request req, respond_fn respond) {
    if (req.target() == "/slow") return parked.park(req, std::move(respond));
    echo(std::move(req), std::move(respond));
  });
  const auto port = server->port();
  test_client idle(port);
  idle.send(get("/fast"));
  ASSERT_TRUE(idle.read());

  test_client busy(port);
  busy.send(get("/slow"));
  auto [target, respond] = parked.take();
  ASSERT_EQ(target, "/slow");

  auto stopped = std::async(std::launch::async, [&] { server->stop(); });
  EXPECT_TRUE(idle.closed_by_server());  // stop has begun: idle connections go first
  // Also on the io thread of /slow (the two connections may be on different threads).
  ASSERT_TRUE(refuses_connections(port)) << "still accepting after stop";
  EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout);  // still waiting for /slow

  respond(text("late but answered"));
  auto res = busy.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "late but answered");
  EXPECT_EQ((*res)[http::field::connection], "close");
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(busy.closed_by_server());
}

TEST(HttpServer, respond_after_stop_and_after_destruction_is_harmless) {
  parked_requests parked;
  auto server = serve({.shutdown_timeout = 1s}, [&](http_request req, respond_fn respond) {
    parked.park(req, std::move(respond));
  });
  test_client c(server->port());
  c.send(get("/never"));
  auto [target, respond] = parked.take();
  ASSERT_EQ(target, "/never");

  const auto start = steady::now();
  server->stop();  // gives up on /never after shutdown_timeout
  EXPECT_GE(steady::now() - start, 900ms);
  EXPECT_TRUE(c.closed_by_server());

  respond(text("too late"));  // after stop: ignored
  server.reset();
  respond(text("later still"));  // after destruction: ignored, nothing dangles
  respond = nullptr;             // the last reference: connection and io_context freed
}

TEST(HttpServer, respond_dropped_without_a_call_closes_the_connection) {
  auto server = serve({}, [](http_request req, respond_fn respond) {
    if (req.target() == "/drop") return;  // respond goes out of scope uncalled
    respond(text("ok"));
  });
  test_client c(server->port());
  c.send(get("/drop"));
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(server->probe().unanswered.load(), 1u);

  test_client next(server->port());  // the server carries on
  next.send(get("/"));
  auto res = next.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "ok");
}

TEST(HttpServer, a_second_call_of_respond_is_ignored) {
  respond_fn kept;
  std::mutex mu;
  auto server = serve({}, [&](http_request req, respond_fn respond) {
    {
      std::lock_guard lock(mu);
      kept = respond;
    }
    respond(text("first " + std::string(req.target())));
    respond(text("second"));  // ignored
  });
  test_client c(server->port());
  c.send(get("/a"));
  auto a = c.read();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->body(), "first /a");
  {
    std::lock_guard lock(mu);
    kept(text("stale"));  // a stale respond_fn does not answer the next request
  }
  c.send(get("/b"));
  auto b = c.read();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body(), "first /b");
  std::lock_guard lock(mu);
  kept = nullptr;
}

TEST(HttpServer, dispatch_that_throws_gets_a_500) {
  auto server = serve({}, [](http_request req, respond_fn respond) {
    if (req.target() == "/boom") throw std::runtime_error("boom");
    respond(text("fine"));
  });
  test_client c(server->port());
  c.send(get("/boom"));
  auto res = c.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), http::status::internal_server_error);
  c.send(get("/"));
  auto next = c.read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body(), "fine");
}

TEST(HttpServer, head_answers_carry_the_length_but_no_body) {
  auto server = serve({}, [](http_request, respond_fn respond) { respond(text("12345")); });
  test_client c(server->port());
  c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.read(10s, true);
  ASSERT_TRUE(head);
  EXPECT_EQ((*head)[http::field::content_length], "5");
  auto res = c.read();  // right after HEAD's header: no body bytes came between
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "12345");
}

// --- Streamed answers ---------------------------------------------------------------------------

// What a streaming handler saw: its writer once open, and whether the stream has ended.
struct stream_probe {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<stream_writer> writer;
  std::vector<bool> first_writes;  // what the writes made in on_open returned
  bool closed = false;

  std::shared_ptr<stream_writer> wait_open() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 10s, [&] { return writer != nullptr; });
    return writer;
  }
  bool wait_closed() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return closed; });
  }
};

// Answers every request with a stream; on_open first writes `initial` (on the io thread).
stream_dispatch_fn streaming(stream_probe& p, std::vector<std::string> initial = {}) {
  return [&p, initial](http_request, respond_fn, stream_fn stream) {
    stream_start s;
    s.head = http_response{http::status::ok, 11};
    s.head.set(http::field::content_type, "text/event-stream");
    s.heartbeat = ": ping\n\n";
    s.overflow_chunk = "event: overflow\ndata: {}\n\n";
    s.on_open = [&p, initial](std::shared_ptr<stream_writer> w) {
      std::vector<bool> results;
      for (auto& chunk : initial) results.push_back(w->write(chunk));
      std::lock_guard lock(p.mu);
      p.first_writes = results;
      p.writer = std::move(w);
      p.cv.notify_all();
    };
    s.on_close = [&p] {
      std::lock_guard lock(p.mu);
      p.closed = true;
      p.cv.notify_all();
    };
    stream(std::move(s));
  };
}

std::unique_ptr<http_server> serve_streams(server_options opt, stream_dispatch_fn dispatch) {
  opt.port = 0;
  auto server = std::make_unique<http_server>(std::move(opt), std::move(dispatch));
  server->start();
  return server;
}

TEST(HttpServer, a_stream_gets_chunks_as_they_come_a_heartbeat_when_idle_and_ends_on_stop) {
  stream_probe p;
  auto server = serve_streams({.shutdown_timeout = 5s, .stream_heartbeat = 100ms}, streaming(p));
  test::sse_client c(server->port(), "/events");
  ASSERT_EQ(c.status(), 200);
  EXPECT_EQ(c.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(c.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(c.header("Connection"), "close");
  auto w = p.wait_open();
  ASSERT_TRUE(w);
  EXPECT_EQ(server->probe().streams_open.load(), 1);

  std::thread producer([w] { EXPECT_TRUE(w->write("id: 1\ndata: one\n\n")); });
  producer.join();
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, "1");
  EXPECT_EQ(e->data, "one");
  EXPECT_TRUE(w->write("id: 2\ndata: two\n\n"));
  e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "two");
  // Nothing for a while: the heartbeat comment.
  e = c.next(5s, true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->comment, "ping");

  // stop() ends the stream at once instead of waiting shutdown_timeout for it.
  const auto start = steady::now();
  server->stop();
  EXPECT_LT(steady::now() - start, 2s);
  EXPECT_TRUE(c.wait_end(5s));
  EXPECT_TRUE(p.wait_closed());
  EXPECT_FALSE(w->write("data: after\n\n"));
  EXPECT_FALSE(w->is_open());
  EXPECT_EQ(server->probe().streams_open.load(), 0);
}

TEST(HttpServer, a_stream_whose_queue_is_full_ends_after_its_overflow_chunk) {
  stream_probe p;
  // Written on the io thread before any can go out: the first fills the 64-byte queue.
  std::vector<std::string> chunks(5, "data: " + std::string(32, 'x') + "\n\n");
  auto server = serve_streams({.stream_queue_bytes = 64}, streaming(p, chunks));
  test::sse_client c(server->port(), "/events");
  ASSERT_EQ(c.status(), 200);
  ASSERT_TRUE(p.wait_open());
  {
    std::lock_guard lock(p.mu);
    EXPECT_EQ(p.first_writes, (std::vector<bool>{true, false, false, false, false}));
  }
  auto e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, std::string(32, 'x'));
  e = c.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "overflow");
  EXPECT_TRUE(c.wait_end(5s));
  EXPECT_TRUE(p.wait_closed());
}

TEST(HttpServer, a_client_that_goes_away_ends_its_stream) {
  stream_probe p;
  auto server = serve_streams({}, streaming(p));
  {
    test::sse_client c(server->port(), "/events");
    ASSERT_EQ(c.status(), 200);
    ASSERT_TRUE(p.wait_open());
  }
  EXPECT_TRUE(p.wait_closed());
  EXPECT_FALSE(p.writer->write("data: nobody\n\n"));
  // The server still serves others.
  test::sse_client again(server->port(), "/events");
  EXPECT_EQ(again.status(), 200);
}

}  // namespace
}  // namespace tally::api
