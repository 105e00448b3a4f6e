// Counters are plain relaxed atomics: a scrape may see one request counted and not yet timed,
// which Prometheus tolerates. Histogram buckets are stored per bucket and summed at render,
// so _count always equals the "+Inf" bucket.
#include "api/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <tuple>

namespace tally::api {
namespace {

namespace http = boost::beast::http;

constexpr std::uint32_t status_bits = 10;  // status codes are < 1000

std::uint32_t counter_key(http::verb method, unsigned status) {
  return ((static_cast<std::uint32_t>(method) + 1) << status_bits) | (status % 1000);
}

std::string_view method_name(std::uint32_t key) {
  auto verb = static_cast<http::verb>((key >> status_bits) - 1);
  if (verb == http::verb::unknown) return "OTHER";
  auto name = http::to_string(verb);
  return {name.data(), name.size()};
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: integral
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    out.append(buf, end);
  } else {
    char buf[32];
    // Shortest round-trip digits, %g style (0.0001, 1234567, 1e+20), as Go clients print.
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    out.append(buf, end);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Label values escape backslash, double quote and line feed; HELP text escapes backslash and
// line feed.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void route_metrics::observe(http::verb method, unsigned status,
                            std::chrono::nanoseconds latency) noexcept {
  const std::uint32_t key = counter_key(method, status);
  std::size_t at = (key * 2654435761u) >> (32 - 6);  // Fibonacci hashing onto 64 slots
  static_assert(table_size == 64);
  bool counted = false;
  for (std::size_t probe = 0; probe < table_size && !counted; ++probe) {
    counter_slot& slot = counters_[(at + probe) % table_size];
    std::uint32_t k = slot.key.load(std::memory_order_relaxed);
    if (k == 0) {
      slot.key.compare_exchange_strong(k, key, std::memory_order_relaxed);
      if (k == 0) k = key;  // the exchange succeeded; else k holds the winner's key
    }
    if (k == key) {
      slot.count.fetch_add(1, std::memory_order_relaxed);
      counted = true;
    }
  }
  if (!counted) {
    std::lock_guard lock(overflow_mu_);
    ++overflow_[key];
  }

  const std::int64_t ns = std::max<std::int64_t>(0, latency.count());
  std::size_t bucket = 0;
  while (bucket < latency_bucket_ns.size() && ns > latency_bucket_ns[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

route_metrics& metrics_registry::route(std::string_view pattern) {
  std::lock_guard lock(mu_);
  for (auto& r : routes_) {
    if (r.route() == pattern) return r;
  }
  return routes_.emplace_back(std::string(pattern));
}

void metrics_registry::add_gauge(std::string name, std::string help, std::function<double()> read) {
  add_series(std::move(name), std::move(help), "gauge", std::move(read));
}

void metrics_registry::add_counter(std::string name, std::string help,
                                   std::function<double()> read) {
  add_series(std::move(name), std::move(help), "counter", std::move(read));
}

void metrics_registry::add_series(std::string name, std::string help, const char* type,
                                  std::function<double()> read) {
  std::string_view base = std::string_view(name).substr(0, name.find('{'));
  if (!valid_metric_name(base) || (base.size() < name.size() && name.back() != '}')) {
    throw std::invalid_argument("malformed metric name: " + name);
  }
  std::lock_guard lock(mu_);
  auto fam = std::find_if(families_.begin(), families_.end(),
                          [&](const family& f) { return f.name == base; });
  if (fam == families_.end()) {
    fam = families_.insert(
        families_.end(), family{.name = std::string(base), .help = std::move(help), .type = type});
  } else if (fam->type != type) {
    throw std::invalid_argument("metric " + fam->name + " is already a " + fam->type);
  }
  fam->series.emplace_back(std::move(name), std::move(read));
}

std::string metrics_registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096 + routes_.size() * 2048);

  append_header(out, "tally_http_requests_total",
                "HTTP requests answered, by route pattern, method and status code.", "counter");
  std::vector<std::pair<std::uint32_t, std::uint64_t>> rows;
  for (const route_metrics& r : routes_) {
    rows.clear();
    for (const auto& slot : r.counters_) {
      std::uint32_t key = slot.key.load(std::memory_order_relaxed);
      std::uint64_t n = slot.count.load(std::memory_order_relaxed);
      if (key != 0 && n != 0) rows.emplace_back(key, n);
    }
    {
      std::lock_guard overflow_lock(r.overflow_mu_);
      rows.insert(rows.end(), r.overflow_.begin(), r.overflow_.end());
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tuple(method_name(a.first), a.first) < std::tuple(method_name(b.first), b.first);
    });
    for (auto [key, n] : rows) {
      out += "tally_http_requests_total{route=\"";
      append_escaped(out, r.route(), true);
      out += "\",method=\"";
      out += method_name(key);
      out += "\",status=\"";
      append_number(out, static_cast<std::uint64_t>(key & ((1u << status_bits) - 1)));
      out += "\"} ";
      append_number(out, n);
      out += '\n';
    }
  }

  append_header(out, "tally_http_request_duration_seconds",
                "Time from a parsed request to its answer, by route pattern.", "histogram");
  for (const route_metrics& r : routes_) {
    std::string label = "route=\"";
    append_escaped(label, r.route(), true);
    label += '"';
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < r.buckets_.size(); ++i) {
      cumulative += r.buckets_[i].load(std::memory_order_relaxed);
      out += "tally_http_request_duration_seconds_bucket{";
      out += label;
      out += ",le=\"";
      out += i < latency_bucket_labels.size() ? latency_bucket_labels[i] : "+Inf";
      out += "\"} ";
      append_number(out, cumulative);
      out += '\n';
    }
    out += "tally_http_request_duration_seconds_sum{";
    out += label;
    out += "} ";
    append_number(out, static_cast<double>(r.sum_ns_.load(std::memory_order_relaxed)) / 1e9);
    out += "\ntally_http_request_duration_seconds_count{";
    out += label;
    out += "} ";
    append_number(out, cumulative);
    out += '\n';
  }

  for (const family& f : families_) {
    append_header(out, f.name, f.help, f.type);
    for (const auto& [name, read] : f.series) {
      out += name;
      out += ' ';
      append_number(out, read());
      out += '\n';
    }
  }
  return out;
}

}  // namespace tally::api
