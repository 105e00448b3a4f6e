// GCRA in exact integers. For a class of L requests per minute, time is counted in units of
// 1/L ms, so that one request costs exactly T = 60000 units and the burst tolerance (a full
// allowance of L requests) is L * T units = 60 s. Per key only the theoretical arrival time
// `tat` is kept: a request at `now` is allowed when now >= max(tat, now) + T - L*T, and then
// tat becomes max(tat, now) + T. A key whose tat <= now has its full allowance, exactly as if
// it had never been seen, which is why pruning such keys is lossless.
#include "api/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <stdexcept>

namespace tally::api {

namespace {

constexpr std::int64_t cost_units = 60'000;  // one request, in units of 1/L ms

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

int parse_rpm(const char* name, const char* value, int fallback) {
  if (!value || !*value) return fallback;
  std::string_view text(value);
  int rpm = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rpm);
  if (ec != std::errc() || end != text.data() + text.size() || rpm < 1 ||
      rpm > rate_limits::max_rpm) {
    throw std::invalid_argument(std::string(name) + " must be an integer from 1 to " +
                                std::to_string(rate_limits::max_rpm) +
                                " (requests per minute), "
                                "got \"" +
                                std::string(text.substr(0, 40)) + "\"");
  }
  return rpm;
}

}  // namespace

std::string_view to_string(rate_class c) {
  switch (c) {
    case rate_class::general:
      return "general";
    case rate_class::ingest:
      return "ingest";
    case rate_class::auth:
      return "auth";
  }
  return "general";
}

rate_limits rate_limits::from_env() {
  return from_values(std::getenv("TALLY_RATE_LIMIT_RPM"),
                     std::getenv("TALLY_INGEST_RATE_LIMIT_RPM"));
}

rate_limits rate_limits::from_values(const char* general_rpm, const char* ingest_rpm) {
  rate_limits out;
  out.general_rpm = parse_rpm("TALLY_RATE_LIMIT_RPM", general_rpm, out.general_rpm);
  out.ingest_rpm = parse_rpm("TALLY_INGEST_RATE_LIMIT_RPM", ingest_rpm, out.ingest_rpm);
  return out;
}

int rate_limits::limit(rate_class c) const {
  switch (c) {
    case rate_class::general:
      return general_rpm;
    case rate_class::ingest:
      return ingest_rpm;
    case rate_class::auth:
      return auth_rpm;
  }
  return general_rpm;
}

rate_limiter::rate_limiter(rate_limits limits) : limits_(limits) {
  for (rate_class c : {rate_class::general, rate_class::ingest, rate_class::auth}) {
    int l = limits_.limit(c);
    if (l < 1 || l > rate_limits::max_rpm) {
      throw std::invalid_argument("rate limit of class " + std::string(to_string(c)) +
                                  " must be from 1 to " + std::to_string(rate_limits::max_rpm));
    }
  }
}

rate_decision rate_limiter::take(std::string_view key, rate_class c, std::int64_t now_ms) {
  const std::int64_t limit = limits_.limit(c);
  const std::int64_t now = std::max<std::int64_t>(now_ms, 0) * limit;  // in 1/limit ms
  const std::int64_t burst = limit * cost_units;
  const std::int64_t units_per_s = limit * 1000;

  shard& s = shards_[std::hash<std::string_view>{}(key) % shard_count];
  std::lock_guard lock(s.mu);
  if (now_ms >= s.next_sweep_ms) {
    sweep(s, now_ms);
    s.next_sweep_ms = now_ms + sweep_interval_ms;
  }
  tat_map& m = s.by_class[static_cast<std::size_t>(c)];
  auto it = m.find(key);
  const std::int64_t tat = it == m.end() ? now : std::max(it->second, now);
  const std::int64_t next_tat = tat + cost_units;
  const std::int64_t allow_at = next_tat - burst;

  rate_decision d;
  d.limit = static_cast<int>(limit);
  if (now < allow_at) {
    d.allowed = false;
    d.remaining = 0;
    d.reset_s = ceil_div(tat, units_per_s);
    d.retry_after_s =
        static_cast<int>(std::max<std::int64_t>(1, ceil_div(allow_at - now, units_per_s)));
    return d;
  }
  if (it == m.end()) {
    m.emplace(std::string(key), next_tat);
  } else {
    it->second = next_tat;
  }
  d.allowed = true;
  d.remaining = static_cast<int>((now - allow_at) / cost_units);
  d.reset_s = ceil_div(next_tat, units_per_s);
  return d;
}

void rate_limiter::sweep(shard& s, std::int64_t now_ms) {
  for (rate_class c : {rate_class::general, rate_class::ingest, rate_class::auth}) {
    const std::int64_t now = std::max<std::int64_t>(now_ms, 0) * limits_.limit(c);
    std::erase_if(s.by_class[static_cast<std::size_t>(c)],
                  [now](const auto& entry) { return entry.second <= now; });
  }
}

void rate_limiter::prune(std::int64_t now_ms) {
  for (shard& s : shards_) {
    std::lock_guard lock(s.mu);
    sweep(s, now_ms);
  }
}

std::size_t rate_limiter::size() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const tat_map& m : s.by_class) n += m.size();
  }
  return n;
}

void add_rate_headers(http_response& res, const rate_decision& d) {
  res.set("X-RateLimit-Limit", std::to_string(d.limit));
  res.set("X-RateLimit-Remaining", std::to_string(d.remaining));
  res.set("X-RateLimit-Reset", std::to_string(d.reset_s));
  if (!d.allowed) {
    res.set(http::field::retry_after, std::to_string(d.retry_after_s));
  } else {
    res.erase(http::field::retry_after);
  }
}

}  // namespace tally::api
