// The HTTP API of one `tally serve` node, assembled: the key registry (read from the control
// topic, bootstrapped with a first admin key), JWT settings, rate limits, metrics, the app and
// the Beast server. main() builds one and starts it beside the partition owner.
// Thread-safety: start() and stop() from the main thread; the rest runs on the server's threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/app.h"
#include "api/http_server.h"
#include "api/jwt_auth.h"
#include "api/live_stream.h"
#include "api/rate_limiter.h"
#include "consumers/partition_owner.h"
#include "producers/producer.h"

namespace tally::api {

struct node_api_options {
  std::string listen = "127.0.0.1:8000";  // HOST:PORT; port 0 picks a free one
  int threads = 2;
  std::string control_topic = "tally.control.v1";
  std::string source = "tally";
  time_ms late_grace_ms = 7 * 86'400'000;
  time_ms future_skew_ms = 5 * 60'000;
  struct webhooks_api* webhooks = nullptr;  // the webhook endpoints' (null: they answer 503)
  std::string dashboard_dir;  // the built dashboard served at / (empty: / answers 404)
};

class node_api {
 public:
  // `key_records`: the api-key control events read at start (data JSON, in log order).
  // `live`: the hub GET /api/v1/stream serves (null: 503); it must outlive the node_api.
  node_api(node_api_options options, partition_owner& owner, producer& out,
           const limit_policy& policy, const pricing_table& pricing,
           const std::vector<std::string>& key_records, live_hub* live = nullptr);
  ~node_api();

  // Makes sure an org-wide admin key exists: TALLY_ADMIN_KEY when set, else a new key that is
  // published on the control topic and printed once on stdout.
  void bootstrap_admin();
  void start();
  void stop();
  unsigned short port() const { return server_->port(); }
  // More series for /metrics (add them before start()).
  metrics_registry& metrics() { return metrics_; }

 private:
  node_api_options options_;
  producer& out_;
  key_registry keys_;
  jwt_config jwt_config_;
  std::unique_ptr<jwt_verifier> jwt_;
  std::unique_ptr<rate_limiter> limiter_;
  metrics_registry metrics_;
  std::unique_ptr<api_app> app_;
  std::unique_ptr<http_server> server_;
};

// The type of api-key control events.
inline constexpr std::string_view api_key_event_type = "tally.api_key.v1";

// JWT settings from TALLY_JWT_HS256_SECRET, TALLY_JWT_RS256_PUBLIC_KEY_FILE,
// TALLY_JWT_RS256_PRIVATE_KEY_FILE, TALLY_JWT_ISSUER, TALLY_JWT_AUDIENCE; with none of the keys
// set, a random HS256 secret for this process (its tokens end with it).
jwt_config jwt_config_from_env();

}  // namespace tally::api
