#include "consumers/webhook_sender.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include "consumers/net_ranges.h"
#include "consumers/webhook_signature.h"

namespace tally {
namespace {

constexpr std::size_t excerpt_bytes = 512;

void global_init() {
  static const bool ok = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!ok) throw std::runtime_error("curl_global_init failed");
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

// A header value that cannot end the header early or smuggle another one.
bool header_safe(std::string_view v) {
  if (v.empty() || v.size() > 256) return false;
  for (char c : v)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

struct webhook_sender::transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  webhook_request request;
  webhook_result result;
  bool allow_private = false;
  std::string blocked_address;  // the last refused one
  std::chrono::steady_clock::time_point started;
  char error[CURL_ERROR_SIZE] = {};

  ~transfer() {
    curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }

  static size_t on_write(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<transfer*>(self);
    std::size_t bytes = size * n;
    std::string& ex = t->result.response_excerpt;
    if (ex.size() < excerpt_bytes) ex.append(data, std::min(bytes, excerpt_bytes - ex.size()));
    return bytes;
  }

  static curl_socket_t on_open_socket(void* self, curlsocktype purpose, curl_sockaddr* addr) {
    auto* t = static_cast<transfer*>(self);
    if (purpose == CURLSOCKTYPE_IPCXN && !t->allow_private && is_private_address(&addr->addr)) {
      t->result.blocked = true;
      t->blocked_address = address_text(&addr->addr);
      return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  }
};

webhook_sender::webhook_sender(webhook_sender_options o,
                               std::function<void(webhook_result)> on_done)
    : options_(std::move(o)), on_done_(std::move(on_done)) {
  if (options_.max_in_flight == 0) throw std::invalid_argument("max_in_flight must be > 0");
  global_init();
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
}

webhook_sender::~webhook_sender() {
  stop();
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void webhook_sender::start() {
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { run(); });
}

void webhook_sender::stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    in_flight_ -= queue_.size();
    queue_.clear();
  }
  stop_ = true;
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
}

void webhook_sender::submit(webhook_request r) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    queue_.push_back(std::move(r));
    ++in_flight_;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

std::size_t webhook_sender::in_flight() const {
  return in_flight_.load();
}

void webhook_sender::begin(webhook_request r) {
  auto t = std::make_unique<transfer>();
  t->request = std::move(r);
  t->allow_private = options_.allow_private;
  t->result.tag = t->request.tag;
  t->result.started_ms = wall_ms();
  t->started = std::chrono::steady_clock::now();
  t->result.timestamp_s = t->result.started_ms / 1000;
  const webhook_request& q = t->request;

  if (!header_safe(q.msg_id)) {
    t->result.error = "webhook-id must be 1 to 256 printable ASCII characters";
    finish(std::move(t), -1);
    return;
  }
  std::string signature;
  try {
    signature = webhook_signature(q.secret, q.msg_id, t->result.timestamp_s, q.body);
  } catch (const std::exception& e) {
    t->result.error = e.what();
    finish(std::move(t), -1);
    return;
  }
  t->easy = curl_easy_init();
  if (!t->easy) {
    t->result.error = "curl_easy_init failed";
    finish(std::move(t), -1);
    return;
  }
  for (std::string h :
       {"webhook-id: " + q.msg_id, "webhook-timestamp: " + std::to_string(t->result.timestamp_s),
        "webhook-signature: " + signature, std::string("content-type: application/json"),
        std::string("Expect:")}) {  // no 100-continue round trip
    curl_slist* next = curl_slist_append(t->headers, h.c_str());
    if (!next) {
      t->result.error = "out of memory";
      finish(std::move(t), -1);
      return;
    }
    t->headers = next;
  }
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, q.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");  // no proxy from the environment
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, q.body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &transfer::on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  if (CURLMcode mc = curl_multi_add_handle(static_cast<CURLM*>(multi_), e); mc != CURLM_OK) {
    t->result.error = curl_multi_strerror(mc);
    finish(std::move(t), -1);
    return;
  }
  const transfer* key = t.get();
  running_.emplace(key, std::move(t));
}

// code: the transfer's CURLcode, or -1 when it never started (result.error is set).
void webhook_sender::finish(std::unique_ptr<transfer> t, int code) {
  webhook_result& r = t->result;
  if (t->easy && code >= 0) {
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), t->easy);
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      r.http_status = static_cast<int>(status);
      r.blocked = false;  // another address of the host was allowed
    } else {
      r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
      if (r.blocked)
        r.error = "connection to private address " + t->blocked_address + " refused";
      else
        r.error = t->error[0] ? t->error : curl_easy_strerror(static_cast<CURLcode>(code));
    }
  }
  r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t->started)
                      .count();
  --in_flight_;
  try {
    on_done_(std::move(r));
  } catch (const std::exception& e) {
    spdlog::error("webhook sender: on_done threw: {}", e.what());
  }
}

void webhook_sender::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  while (!stop_) {
    bool more = false;
    {
      std::unique_lock lock(mu_);
      while (!queue_.empty() && running_.size() < options_.max_in_flight) {
        webhook_request r = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        begin(std::move(r));
        lock.lock();
        if (stop_) break;
      }
      more = !queue_.empty() && running_.size() < options_.max_in_flight;
    }
    int still = 0;
    curl_multi_perform(multi, &still);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      CURLcode code = m->data.result;
      auto it = running_.find(t);
      if (it == running_.end()) continue;
      std::unique_ptr<transfer> owned = std::move(it->second);
      running_.erase(it);
      finish(std::move(owned), static_cast<int>(code));
      more = true;  // a slot is free: look at the queue again before waiting
    }
    if (stop_) break;
    curl_multi_poll(multi, nullptr, 0, more ? 0 : 1000, nullptr);
  }
  // Abandon what is running: no on_done.
  for (auto& [key, t] : running_) curl_multi_remove_handle(multi, t->easy);
  running_.clear();
  in_flight_ = 0;
}

}  // namespace tally
