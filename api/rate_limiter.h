// Per-key request rate limits in classes (general routes, ingest and budget checks, auth),
// each a limit per minute with a burst of the same size, as GCRA (the generic cell rate
// algorithm, a token bucket kept as one timestamp per key): a key may send `limit` requests
// at once, then one every 60 s / limit. Time is an input, never read here.
// Thread-safety: rate_limiter may be used from any number of threads; keys are spread over
// 64 independently locked shards, so threads contend only when their keys share a shard.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/http_types.h"

namespace tally::api {

enum class rate_class { general, ingest, auth };

std::string_view to_string(rate_class c);

struct rate_limits {
  int general_rpm = 100;   // TALLY_RATE_LIMIT_RPM: every route without a class of its own
  int ingest_rpm = 60000;  // TALLY_INGEST_RATE_LIMIT_RPM: usage reports and budget checks
  int auth_rpm = 10;       // /api/v1/auth/*; fixed, not configurable
  static constexpr int max_rpm = 1'000'000;

  // The defaults overridden by the environment. Throws std::invalid_argument naming the
  // variable when a value is not an integer from 1 to max_rpm. Unset or empty: the default.
  static rate_limits from_env();
  // The same from given values (nullptr: unset), for tests and other configuration sources.
  static rate_limits from_values(const char* general_rpm, const char* ingest_rpm);

  int limit(rate_class c) const;
};

struct rate_decision {
  bool allowed = false;
  int limit = 0;             // requests per minute of the class
  int remaining = 0;         // requests that would still be allowed at this instant
  std::int64_t reset_s = 0;  // unix seconds when the key's allowance is full again
  int retry_after_s = 0;     // when refused: seconds until one request is allowed (>= 1)
};

class rate_limiter {
 public:
  explicit rate_limiter(rate_limits limits = {});

  // Counts one request of `key` in class `c` at `now_ms` (unix milliseconds) if allowed.
  rate_decision take(std::string_view key, rate_class c, std::int64_t now_ms);

  // Forgets every key whose allowance is full at now_ms (forgetting it changes nothing).
  // take() also does this for its shard at most once a minute, so memory is bounded by the
  // keys seen in the last minute or two; call it to bound memory more tightly.
  void prune(std::int64_t now_ms);

  // Keys tracked across all classes (for tests and metrics).
  std::size_t size() const;

  const rate_limits& limits() const { return limits_; }

 private:
  static constexpr std::size_t shard_count = 64;
  static constexpr std::int64_t sweep_interval_ms = 60'000;

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Per key: the theoretical arrival time of the next request, in units of 1/limit ms.
  using tat_map = std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>>;

  struct alignas(64) shard {
    mutable std::mutex mu;
    std::array<tat_map, 3> by_class;  // indexed by rate_class
    std::int64_t next_sweep_ms = 0;
  };

  void sweep(shard& s, std::int64_t now_ms);

  rate_limits limits_;
  std::array<shard, shard_count> shards_;
};

// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (unix seconds), and
// Retry-After (seconds) when the request was refused.
void add_rate_headers(http_response& res, const rate_decision& d);

}  // namespace tally::api
