#include "api/node_api.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "api/base64url.h"
#include "consumers/control.h"

namespace tally::api {
namespace {

time_ms wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::pair<std::string, unsigned short> split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--listen is HOST:PORT");
  int port = std::stoi(listen.substr(colon + 1));
  if (port < 0 || port > 65535) throw std::runtime_error("--listen port out of range");
  return {listen.substr(0, colon), static_cast<unsigned short>(port)};
}

}  // namespace

jwt_config jwt_config_from_env() {
  jwt_config c;
  c.hs256_secret = env("TALLY_JWT_HS256_SECRET");
  if (auto f = env("TALLY_JWT_RS256_PUBLIC_KEY_FILE"); !f.empty())
    c.rs256_public_pem = read_file(f);
  if (auto f = env("TALLY_JWT_RS256_PRIVATE_KEY_FILE"); !f.empty()) {
    c.rs256_private_pem = read_file(f);
  }
  if (auto v = env("TALLY_JWT_ISSUER"); !v.empty()) c.issuer = v;
  if (auto v = env("TALLY_JWT_AUDIENCE"); !v.empty()) c.audience = v;
  if (c.hs256_secret.empty() && c.rs256_public_pem.empty() && c.rs256_private_pem.empty()) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness");
    c.hs256_secret = base64url_encode(std::string_view(reinterpret_cast<char*>(bytes), 32));
  }
  return c;
}

node_api::node_api(node_api_options options, partition_owner& owner, producer& out,
                   const limit_policy& policy, const pricing_table& pricing,
                   const std::vector<std::string>& key_records, live_hub* live)
    : options_(std::move(options)), out_(out) {
  for (auto& data : key_records) {
    auto rec = decode_key_record(data);
    if (!rec || !keys_.apply(*rec)) spdlog::warn("control: an api-key record was refused");
  }
  jwt_config_ = jwt_config_from_env();
  jwt_ = std::make_unique<jwt_verifier>(jwt_config_);
  limiter_ = std::make_unique<rate_limiter>(rate_limits::from_env());

  api_deps deps;
  deps.ledger = &owner;
  deps.policy = &policy;
  deps.pricing = &pricing;
  deps.clock = wall_ms;
  deps.source = options_.source;
  deps.late_grace_ms = options_.late_grace_ms;
  deps.future_skew_ms = options_.future_skew_ms;
  deps.keys = &keys_;
  deps.jwt = &jwt_config_;
  deps.webhooks = options_.webhooks;
  deps.live = live;
  deps.dashboard_dir = options_.dashboard_dir;
  deps.publish_key = [this](const api_key_record& rec, std::function<void(bool)> done) {
    auto value =
        encode_control_event(api_key_event_type, "key-" + rec.id + "-" + std::to_string(wall_ms()),
                             wall_ms(), encode_key_record(rec));
    auto err = out_.produce(
        options_.control_topic, 0, "key/" + rec.id, value,
        cloudevent_headers("key-" + rec.id, api_key_event_type, "tally", format_rfc3339(wall_ms())),
        [done](const delivery& d) { done(!d.err); });
    if (err) done(false);
  };
  const auto& c = owner.counters();
  metrics_.add_counter("tally_events_folded_total", "Ledger events folded into the projections",
                       [&c] { return double(c.folded.load()); });
  metrics_.add_counter("tally_events_stored_total",
                       "Folded ledger events the store holds (written once durable in the log)",
                       [&c] { return double(c.stored.load()); });
  metrics_.add_counter("tally_ledger_echoes_total",
                       "Ledger records decided on this node and read back (folded when decided)",
                       [&c] { return double(c.echoes.load()); });
  metrics_.add_counter("tally_fold_duplicates_total", "Ledger events folded twice (skipped)",
                       [&c] { return double(c.fold_duplicates.load()); });
  metrics_.add_counter("tally_reports_total{verdict=\"recorded\"}", "Reports decided",
                       [&c] { return double(c.reports_recorded.load()); });
  metrics_.add_counter("tally_reports_total{verdict=\"rejected\"}", "Reports decided",
                       [&c] { return double(c.reports_rejected.load()); });
  metrics_.add_counter("tally_reports_total{verdict=\"duplicate\"}", "Reports decided",
                       [&c] { return double(c.reports_duplicate.load()); });
  metrics_.add_counter("tally_reports_total{verdict=\"invalid\"}", "Reports decided",
                       [&c] { return double(c.reports_invalid.load()); });
  metrics_.add_gauge("tally_consumer_lag_events", "Ledger events appended but not folded yet",
                     [&c] { return double(c.ledger_lag.load()); });
  metrics_.add_gauge("tally_projections_caught_up", "1 when every owned partition is caught up",
                     [&c] { return c.caught_up.load() ? 1.0 : 0.0; });

  if (live) {
    metrics_.add_gauge("tally_live_streams_open", "Clients of GET /api/v1/stream",
                       [live] { return double(live->subscribers()); });
  }
  app_ = std::make_unique<api_app>(deps, auth_deps{&keys_, jwt_.get(), limiter_.get()}, metrics_);
  server_options so;
  auto [host, port] = split_listen(options_.listen);
  so.host = host;
  so.port = port;
  so.threads = options_.threads;
  server_ = std::make_unique<http_server>(
      so, [this](http_request req, respond_fn respond, stream_fn stream) {
        app_->dispatch(std::move(req), std::move(respond), std::move(stream));
      });
}

node_api::~node_api() {
  stop();
}

void node_api::bootstrap_admin() {
  if (auto secret = env("TALLY_ADMIN_KEY"); !secret.empty()) {
    auto rec = make_key_record(secret, role::admin, "", "TALLY_ADMIN_KEY", 0);
    if (!keys_.apply(rec)) throw std::runtime_error("TALLY_ADMIN_KEY was refused");
    return;
  }
  for (auto& k : keys_.list()) {
    if (k.who == role::admin && k.team.empty() && !k.revoked) return;
  }
  auto secret = generate_key_secret();
  auto rec = make_key_record(secret, role::admin, "", "first admin", wall_ms());
  std::promise<bool> acked;
  auto value =
      encode_control_event(api_key_event_type, "key-" + rec.id, wall_ms(), encode_key_record(rec));
  out_.produce(
      options_.control_topic, 0, "key/" + rec.id, value,
      cloudevent_headers("key-" + rec.id, api_key_event_type, "tally", format_rfc3339(wall_ms())),
      [&acked](const delivery& d) { acked.set_value(!d.err); });
  if (!acked.get_future().get()) throw std::runtime_error("cannot publish the first admin key");
  keys_.apply(rec);
  std::cout << "tally admin key (shown once, keep it): " << secret << std::endl;
}

void node_api::start() {
  server_->start();
  spdlog::info("HTTP API on {}:{}", split_listen(options_.listen).first, server_->port());
}

void node_api::stop() {
  if (server_) server_->stop();
}

}  // namespace tally::api
