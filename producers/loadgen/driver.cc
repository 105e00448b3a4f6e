#include "producers/loadgen/driver.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "producers/loadgen/batch_answer.h"
#include "producers/loadgen/event_ids.h"

namespace tally::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const char* to_string(mode m) {
  switch (m) {
    case mode::budget:
      return "budget";
    case mode::usage:
      return "usage";
    case mode::batch:
      return "batch";
    case mode::mixed:
      return "mixed";
  }
  return "?";
}

const char* to_string(op o) {
  switch (o) {
    case op::budget:
      return "budget";
    case op::usage:
      return "usage";
    case op::batch:
      return "batch";
  }
  return "?";
}

void op_stats::merge(const op_stats& o) {
  latency.merge(o.latency);
  service.merge(o.service);
  requests += o.requests;
  ok += o.ok;
  rate_limited += o.rate_limited;
  bad_status += o.bad_status;
  events += o.events;
  refused_items += o.refused_items;
}

void run_stats::merge(const run_stats& o) {
  for (std::size_t i = 0; i < op_count; ++i) ops[i].merge(o.ops[i]);
  connect_errors += o.connect_errors;
  io_errors += o.io_errors;
  timeouts += o.timeouts;
  for (auto [k, v] : o.statuses) statuses[k] += v;
  last_write_ack = std::max(last_write_ack, o.last_write_ack);
}

namespace {

constexpr std::size_t read_chunk = 65536;  // the most one read of an answer takes

void append_int(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// State shared by every worker: read-only but for the ticket counter of the paced schedule.
struct shared_state {
  const run_options* o = nullptr;
  steady::time_point start, measure_from, deadline, hard_stop;
  std::chrono::nanoseconds interval{0};  // paced: time between due requests
  mutable std::atomic<std::uint64_t> tickets{0};
  std::string header_tail;               // "Host: ...\r\nX-API-Key: ...\r\n"
  std::vector<std::string> budget_gets;  // one complete request per agent
};

class worker;

// One keep-alive connection with one request in flight.
class connection {
 public:
  connection(worker& w, int id);
  void start() { connect(); }
  void force_close();

 private:
  void connect();
  void retry_connect();
  void next();
  void send(steady::time_point due);
  void on_read(beast::error_code ec);
  void finish();
  op choose_op() const;
  void build(op kind);

  worker& w_;
  const shared_state& s_;
  int id_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buf_;
  std::optional<http::response<http::string_body>> res_;
  std::string req_;
  const std::string* out_ = nullptr;  // the request being written (req_ or a prepared one)
  std::uint64_t k_ = 0;               // requests issued on this connection
  std::uint64_t events_ = 0;          // events sent on this connection (for event ids)
  op kind_ = op::budget;
  steady::time_point due_, sent_;
  bool open_ = false;
  bool finished_ = false;
};

class worker {
 public:
  worker(shared_state& s, int index) : s_(s), index_(index), hard_(ioc_) {}

  void add(int conn_id) { conns_.push_back(std::make_unique<connection>(*this, conn_id)); }

  void run() {
    active_ = int(conns_.size());
    hard_.expires_at(s_.hard_stop);
    hard_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      stopping_ = true;
      for (auto& c : conns_) c->force_close();
    });
    for (auto& c : conns_) c->start();
    ioc_.run();
  }

  void done() {
    if (--active_ == 0) hard_.cancel();
  }

  asio::io_context ioc_;
  shared_state& s_;
  int index_;
  run_stats stats;
  bool stopping_ = false;

 private:
  asio::steady_timer hard_;
  std::vector<std::unique_ptr<connection>> conns_;
  int active_ = 0;
};

connection::connection(worker& w, int id)
    : w_(w), s_(w.s_), id_(id), stream_(w.ioc_), timer_(w.ioc_) {
  req_.reserve(1024 + std::size_t(s_.o->batch_size) * 160);
  // Beast reads max(512, free capacity) bytes at a time: without room, a batch's answer of
  // tens of kilobytes took one recv per 512 bytes, and the generator's CPU (on the same cores
  // as the server) went mostly to those calls.
  buf_.reserve(read_chunk);
}

void connection::force_close() {
  timer_.cancel();
  beast::error_code ec;
  stream_.socket().close(ec);
}

void connection::finish() {
  if (finished_) return;
  finished_ = true;
  if (open_) {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    open_ = false;
  }
  w_.done();
}

void connection::connect() {
  if (w_.stopping_ || steady::now() >= s_.deadline) return finish();
  stream_.expires_after(s_.o->timeout);
  stream_.async_connect(s_.o->endpoint, [this](beast::error_code ec) {
    if (ec) {
      const auto now = steady::now();
      if (now >= s_.measure_from && now < s_.deadline) ++w_.stats.connect_errors;
      beast::error_code ignored;
      stream_.socket().close(ignored);
      return retry_connect();
    }
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    open_ = true;
    buf_.clear();
    next();
  });
}

void connection::retry_connect() {
  if (w_.stopping_ || steady::now() >= s_.deadline) return finish();
  timer_.expires_after(std::chrono::milliseconds(50));
  timer_.async_wait([this](beast::error_code ec) {
    if (ec) return finish();
    connect();
  });
}

void connection::next() {
  auto now = steady::now();
  if (w_.stopping_ || now >= s_.deadline) return finish();
  if (s_.interval.count() == 0) return send(now);
  const std::uint64_t t = s_.tickets.fetch_add(1, std::memory_order_relaxed);
  const auto due = s_.start + s_.interval * t;
  if (due >= s_.deadline) return finish();
  if (due <= now) return send(due);
  timer_.expires_at(due);
  timer_.async_wait([this, due](beast::error_code ec) {
    if (ec) return finish();
    send(due);
  });
}

op connection::choose_op() const {
  switch (s_.o->m) {
    case mode::budget:
      return op::budget;
    case mode::usage:
      return op::usage;
    case mode::batch:
      return op::batch;
    case mode::mixed:
      // 4 in 5 budget reads, 1 in 5 usage reports; the phase differs per connection.
      return (k_ + std::uint64_t(id_)) % 5 == 4 ? op::usage : op::budget;
  }
  return op::budget;
}

// One usage report's fields, varied deterministically by n: tokens and a cost of
// $3 / M input and $15 / M output tokens, in micro-dollars.
void append_report(std::string& out, std::uint64_t n) {
  const std::uint64_t in = 100 + (n * 7919) % 4000, outp = 20 + (n * 104729) % 1000;
  const std::uint64_t micro = in * 3 + outp * 15;
  out += "\"input_tokens\":";
  append_int(out, in);
  out += ",\"output_tokens\":";
  append_int(out, outp);
  out += ",\"cost_usd\":";
  append_int(out, micro / 1000000);
  out += '.';
  char frac[8];
  std::uint64_t f = micro % 1000000;
  for (int i = 5; i >= 0; --i, f /= 10) frac[i] = char('0' + f % 10);
  out.append(frac, 6);
}

void connection::build(op kind) {
  const run_options& o = *s_.o;
  const std::size_t agents = o.agents.size();
  const std::size_t agent =
      (std::size_t(id_) + std::size_t(k_) * std::size_t(o.connections)) % agents;
  if (kind == op::budget) {
    out_ = &s_.budget_gets[agent];
    return;
  }
  std::string body;
  body.reserve(kind == op::batch ? std::size_t(o.batch_size) * 160 + 32 : 200);
  auto event_id = [&] {
    body += "\"event_id\":\"";
    if (o.random_event_ids) {
      loadgen::append_random_event_id(body, o.id_seed, std::uint64_t(id_), events_++);
    } else {
      body += o.run_id;
      body += '.';
      append_int(body, std::uint64_t(id_));
      body += '.';
      append_int(body, events_++);
    }
    body += '"';
  };
  req_.clear();
  req_ += "POST ";
  req_ += o.base_path;
  if (kind == op::usage) {
    req_ += "/api/v1/sessions/";
    req_ += o.sessions[agent];
    req_ += "/usage";
    body += '{';
    event_id();
    body += ',';
    append_report(body, k_ * 131 + std::uint64_t(id_));
    body += '}';
  } else {
    req_ += "/api/v1/usage:batch";
    body += "{\"reports\":[";
    for (int j = 0; j < o.batch_size; ++j) {
      if (j) body += ',';
      const std::size_t a = (agent + std::size_t(j) * std::size_t(o.connections)) % agents;
      body += "{\"session_id\":\"";
      body += o.sessions[a];
      body += "\",";
      event_id();
      body += ',';
      append_report(body, k_ * 131 + std::uint64_t(j) * 17 + std::uint64_t(id_));
      body += '}';
    }
    body += "]}";
  }
  req_ += " HTTP/1.1\r\n";
  req_ += s_.header_tail;
  req_ += "Content-Type: application/json\r\nContent-Length: ";
  append_int(req_, body.size());
  req_ += "\r\n\r\n";
  req_ += body;
  out_ = &req_;
}

void connection::send(steady::time_point due) {
  kind_ = choose_op();
  build(kind_);
  ++k_;
  due_ = due;
  sent_ = steady::now();
  stream_.expires_after(s_.o->timeout);
  asio::async_write(stream_, asio::buffer(*out_), [this](beast::error_code ec, std::size_t) {
    if (ec) return on_read(ec);
    res_.emplace();
    http::async_read(stream_, buf_, *res_,
                     [this](beast::error_code ec2, std::size_t) { on_read(ec2); });
  });
}

void connection::on_read(beast::error_code ec) {
  const auto now = steady::now();
  const bool in_window = now >= s_.measure_from && now < s_.deadline;
  run_stats& st = w_.stats;
  if (ec) {
    if (in_window && !w_.stopping_) {
      ++st.io_errors;
      if (ec == beast::error::timeout) ++st.timeouts;
    }
    beast::error_code ignored;
    stream_.socket().close(ignored);
    open_ = false;
    return retry_connect();
  }
  const int status = static_cast<int>(res_->result_int());
  const bool write_op = kind_ != op::budget;
  const bool ok = (status >= 200 && status < 300) || (kind_ == op::usage && status == 402);
  if (ok && write_op) st.last_write_ack = std::max(st.last_write_ack, now);
  if (in_window) {
    op_stats& os = st.ops[std::size_t(kind_)];
    ++os.requests;
    ++st.statuses[status];
    os.latency.record(std::uint64_t((now - due_).count()));
    os.service.record(std::uint64_t((now - sent_).count()));
    if (ok) {
      ++os.ok;
      if (kind_ == op::usage) os.events += 1;
      if (kind_ == op::batch) {
        // Only what the answer says was recorded counts; a refused item is counted apart.
        const auto [accepted, refused] = batch_counts(res_->body());
        os.events += accepted;
        os.refused_items += refused;
      }
    } else if (status == 429) {
      ++os.rate_limited;
    } else {
      ++os.bad_status;
    }
  }
  const bool keep = res_->keep_alive();
  res_.reset();
  if (!keep) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    open_ = false;
    return connect();
  }
  next();
}

double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

}  // namespace

run_result run_load(const run_options& o, void (*on_window)(bool start, void* arg), void* arg) {
  shared_state s;
  s.o = &o;
  s.header_tail = "Host: " + o.host_header + "\r\nUser-Agent: tally-loadgen\r\n";
  if (!o.api_key.empty()) s.header_tail += "X-API-Key: " + o.api_key + "\r\n";
  for (const auto& a : o.agents) {
    s.budget_gets.push_back("GET " + o.base_path + "/api/v1/agents/" + a + "/budget HTTP/1.1\r\n" +
                            s.header_tail + "\r\n");
  }
  const int threads = std::max(1, o.threads);
  std::vector<std::unique_ptr<worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<worker>(s, t));
  for (int c = 0; c < o.connections; ++c) workers[std::size_t(c % threads)]->add(c);

  auto secs = [](double v) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(v));
  };
  s.start = steady::now() + std::chrono::milliseconds(20);
  s.measure_from = s.start + secs(o.warmup_s);
  s.deadline = s.measure_from + secs(o.duration_s);
  s.hard_stop = s.deadline + secs(o.drain_s);
  if (o.rate > 0) s.interval = secs(1.0 / o.rate);

  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->run(); });

  run_result r;
  r.window_start = s.measure_from;
  r.window_end = s.deadline;
  std::this_thread::sleep_until(s.measure_from);
  const double cpu0 = process_cpu_s();
  if (on_window) on_window(true, arg);
  std::this_thread::sleep_until(s.deadline);
  const double cpu1 = process_cpu_s();
  if (on_window) on_window(false, arg);
  r.loadgen_cpu_s = cpu1 - cpu0;
  for (auto& t : running) t.join();
  for (auto& w : workers) r.stats.merge(w->stats);
  return r;
}

}  // namespace tally::loadgen
