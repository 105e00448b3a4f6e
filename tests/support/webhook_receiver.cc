#include "tests/support/webhook_receiver.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "consumers/webhook_signature.h"

namespace tally::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t body_limit = 1 << 20;
constexpr auto idle_limit = std::chrono::seconds(60);

std::string header(const http::request<http::string_body>& req, std::string_view name) {
  auto it = req.find(beast::string_view(name.data(), name.size()));
  return it == req.end() ? std::string() : std::string(it->value());
}

}  // namespace

// The sockets and the coroutines; the only part that touches the network.
struct webhook_receiver::io {
  net::io_context ctx{1};
  tcp::acceptor acceptor{ctx};

  // One connection: requests in order, keep-alive.
  static net::awaitable<void> session(webhook_receiver& self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    {
      std::lock_guard lock(self.mu_);
      self.max_connections_ = std::max(self.max_connections_, ++self.connections_);
    }
    struct closed {
      webhook_receiver& self;
      ~closed() {
        std::lock_guard lock(self.mu_);
        --self.connections_;
      }
    } on_close{self};
    net::steady_timer delay(stream.get_executor());
    try {
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(body_limit);
        stream.expires_after(idle_limit);
        co_await http::async_read(stream, buffer, parser, net::use_awaitable);
        http::request<http::string_body> req = parser.release();

        received r;
        r.arrived_steady = std::chrono::steady_clock::now();
        r.arrived_wall = std::chrono::system_clock::now();
        std::string_view target(req.target().data(), req.target().size());
        r.path = std::string(target.substr(0, target.find('?')));
        r.method = std::string(req.method_string());
        r.webhook_id = header(req, "webhook-id");
        r.webhook_timestamp = header(req, "webhook-timestamp");
        r.webhook_signature = header(req, "webhook-signature");
        r.content_type = header(req, "content-type");
        r.user_agent = header(req, "user-agent");
        r.body = std::move(req.body());
        auto [status, delay_ms] = self.record(std::move(r));

        if (delay_ms > 0) {
          stream.expires_never();
          delay.expires_after(std::chrono::milliseconds(delay_ms));
          co_await delay.async_wait(net::use_awaitable);
        }
        http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = "answer " + std::to_string(status);
        if (status >= 300 && status < 400) res.set(http::field::location, "/redirected");
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        stream.expires_after(idle_limit);
        co_await http::async_write(stream, res, net::use_awaitable);
        if (!res.keep_alive()) break;
      }
    } catch (const std::exception&) {
      // The peer closed or timed out, or the request was malformed: drop the connection.
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  static net::awaitable<void> accept_loop(webhook_receiver& self) {
    tcp::acceptor& acceptor = self.io_->acceptor;
    for (;;) {
      beast::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;  // e.g. too many open files: keep serving the others
      net::co_spawn(self.io_->ctx, session(self, std::move(socket)), net::detached);
    }
  }
};

webhook_receiver::webhook_receiver() : io_(std::make_unique<io>()) {
  tcp::endpoint at(net::ip::make_address("127.0.0.1"), 0);
  io_->acceptor.open(at.protocol());
  io_->acceptor.set_option(net::socket_base::reuse_address(true));
  io_->acceptor.bind(at);
  io_->acceptor.listen(net::socket_base::max_listen_connections);
  port_ = io_->acceptor.local_endpoint().port();

  net::co_spawn(io_->ctx, io::accept_loop(*this), net::detached);
  thread_ = std::thread([this] { io_->ctx.run(); });
}

webhook_receiver::~webhook_receiver() {
  io_->ctx.stop();
  thread_.join();
  // io_'s destructor destroys the suspended coroutines and their sockets.
}

std::pair<int, int> webhook_receiver::record(received r) {
  std::pair<int, int> answer{200, 0};
  {
    std::lock_guard lock(mu_);
    int attempt = attempts_[{r.path, r.webhook_id}]++;
    auto it = scripts_.find(r.path);
    if (it != scripts_.end()) {
      script& s = it->second;
      if (s.always)
        answer.first = s.always;
      else if (attempt < s.fail_k)
        answer.first = s.fail_status;
      answer.second = std::exchange(s.delay_ms, 0);
      if (!s.secret.empty())
        r.signature_ok = verify_webhook_signature(s.secret, r.webhook_id, r.webhook_timestamp,
                                                  r.body, r.webhook_signature);
    }
    std::int64_t ts = 0;
    try {
      std::size_t used = 0;
      ts = std::stoll(r.webhook_timestamp, &used);
      if (used != r.webhook_timestamp.size()) ts = 0;
    } catch (const std::exception&) {
    }
    auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(r.arrived_wall.time_since_epoch()).count();
    r.timestamp_ok = ts > 0 && ts >= now_s - 300 && ts <= now_s + 300;
    r.status = answer.first;
    ++per_id_[r.webhook_id];
    requests_.push_back(std::move(r));
    ++generation_;
  }
  cv_.notify_all();
  return answer;
}

void webhook_receiver::set_secret(std::string path, std::string whsec) {
  std::lock_guard lock(mu_);
  scripts_[std::move(path)].secret = std::move(whsec);
}

void webhook_receiver::fail_first(std::string path, int k, int status) {
  std::lock_guard lock(mu_);
  script& s = scripts_[std::move(path)];
  s.fail_k = k;
  s.fail_status = status;
}

void webhook_receiver::delay_once(std::string path, int ms) {
  std::lock_guard lock(mu_);
  scripts_[std::move(path)].delay_ms = ms;
}

void webhook_receiver::answer_always(std::string path, int status) {
  std::lock_guard lock(mu_);
  scripts_[std::move(path)].always = status;
}

std::vector<webhook_receiver::received> webhook_receiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t webhook_receiver::count(std::string_view msg_id) const {
  std::lock_guard lock(mu_);
  auto it = per_id_.find(msg_id);
  return it == per_id_.end() ? 0 : it->second;
}

bool webhook_receiver::wait_for(std::function<bool()> pred, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::unique_lock lock(mu_);
  for (;;) {
    const std::uint64_t seen = generation_;
    lock.unlock();
    if (pred()) return true;
    lock.lock();
    if (!cv_.wait_until(lock, until, [&] { return generation_ != seen; })) {
      lock.unlock();
      return pred();
    }
  }
}

std::size_t webhook_receiver::max_connections() const {
  std::lock_guard lock(mu_);
  return max_connections_;
}

std::string webhook_receiver::url(std::string path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace tally::test
