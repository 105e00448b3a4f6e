// Webhook subscriptions: who receives the alerts of tally.alerts.v1 over HTTP. A subscription
// travels on the control topic (type tally.webhook.v1, key "webhook/<id>", compacted: the last
// record of an id wins) as JSON, secret included, so every node can sign its deliveries; the
// API shows the secret once, at creation. The registry is the applied state of those records.
// Thread-safety: free functions are pure; webhook_registry may be used from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/system/result.hpp>

#include "schemas/config.h"  // alert_level_rank
#include "schemas/event_time.h"

namespace tally {

inline constexpr std::string_view webhook_event_type = "tally.webhook.v1";

struct webhook_subscription {
  std::string id;         // "wh_" + 16 hex digits
  std::string url;        // http(s)
  std::string team;       // only this team's alerts; empty: every team (org-wide admins only)
  std::string min_level;  // info | warning | critical | exceeded; empty: every level
  std::string secret;     // whsec_...: the HMAC key of the signatures
  std::string description;
  time_ms created_at = 0;
  bool enabled = true;
  std::string disabled_reason;  // "gone" (the receiver answered 410) or "api"
  time_ms disabled_at = 0;
  bool deleted = false;
  std::int64_t version = 0;  // a record replaces the one applied only if its version is higher
  friend bool operator==(const webhook_subscription&, const webhook_subscription&) = default;
};

// Whether the subscription takes an alert of this team and level.
bool webhook_matches(const webhook_subscription& s, std::string_view team, std::string_view level);

std::string encode_webhook_record(const webhook_subscription& s);
boost::system::result<webhook_subscription> decode_webhook_record(std::string_view json);

class webhook_registry {
 public:
  // Applies a record unless one of the same id with a version as high is there. Returns whether
  // it was applied.
  bool apply(const webhook_subscription& s);
  // Not deleted, in id order; `team` set: the subscriptions of that team only.
  std::vector<webhook_subscription> list(std::optional<std::string> team = std::nullopt) const;
  std::optional<webhook_subscription> get(std::string_view id) const;  // deleted ones too
  // The enabled, not deleted subscriptions that take an alert of this team and level.
  std::vector<webhook_subscription> matching(std::string_view team, std::string_view level) const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, webhook_subscription> by_id_;
};

}  // namespace tally
