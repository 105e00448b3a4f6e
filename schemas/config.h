// config.yaml: pricing versions, limits (global, per team, per agent), teams with their time
// zones, alert thresholds, delivery rules and channel switches, the SMTP relay, webhook delivery
// settings, retention, and the event-time tolerances. Money is read from the scalar's text with
// parse_usd, never through binary floating point.
// Thread-safety: pure functions (apart from reading the file, alerts.email.ca_file, the tz
// database, and the environment in load_config / apply_env_overrides).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "schemas/alert_events.h"
#include "schemas/money.h"
#include "schemas/pricing.h"

namespace tally {

// Unset = no limit at that scope. Tokens count all four buckets (token_counts::total()).
struct limit_values {
  std::optional<nanos> max_cost_per_day;
  std::optional<nanos> max_cost_per_month;
  std::optional<nanos> max_cost_per_run;
  std::optional<std::int64_t> max_tokens_per_day;
  std::optional<std::int64_t> max_tokens_per_month;
  std::optional<std::int64_t> max_tokens_per_run;
  std::optional<std::int64_t> max_concurrent_agents;

  bool empty() const noexcept { return *this == limit_values{}; }
  friend bool operator==(const limit_values&, const limit_values&) = default;
};

struct limits_config {
  limit_values global;                         // limits.global
  limit_values team_default;                   // limits.per_project|per_team|per_workspace.default
  limit_values agent_default;                  // limits.per_agent.default
  std::map<std::string, limit_values> agents;  // limits.per_agent.<agent id>
};

struct team_config {
  std::string name;              // defaults to the id
  std::string timezone = "UTC";  // IANA name, checked against the tz database
  limit_values limits;           // overrides of limits_config::team_default, key by key
};

struct alert_threshold {
  int percent = 0;    // of the limit, > 0; may exceed 100
  std::string level;  // info | warning | critical | exceeded
  std::string message;

  friend bool operator==(const alert_threshold&, const alert_threshold&) = default;
};

// One entry of alerts.notifications. Two kinds, told apart by their content:
// * a delivery RULE: an email entry with recipients or a webhook entry with a url. When enabled,
//   every alert that passes its filters (min_level, team_id) is delivered to it; a disabled rule
//   is just not used, and leaves the channel on for everything else (API-created webhook
//   subscriptions, other rules).
// * a channel SWITCH: an entry without recipients / url, e.g. {type: webhook, enabled: false},
//   turns the whole channel off (channel_enabled). Switches are what limit_policy and
//   AlertThresholdsSet carry (channel_switches); rules stay in the config for the dispatcher.
struct notification_config {
  std::string type;  // in_app | email | webhook
  bool enabled = true;
  std::vector<std::string> recipients;  // email
  std::string url;                      // webhook
  // Rule filters (email and webhook rules only). min_level: info | warning | critical |
  // exceeded; an alert is delivered when its level is at least this one; empty = every level.
  std::string min_level;
  std::string team_id;  // only alerts of this team; empty = every team
  // Webhook rules: "whsec_" + base64 of >= 16 bytes, the key deliveries to `url` are signed with.
  // Required when the rule is enabled.
  std::string secret;

  bool is_rule() const noexcept { return !recipients.empty() || !url.empty(); }
  friend bool operator==(const notification_config&, const notification_config&) = default;
};

// False iff some entry of `type` is a switch (no recipients, no url) with enabled = false.
bool channel_enabled(const std::vector<notification_config>& notifications, std::string_view type);

// The channel switches for limit_policy::notifications: in_app first (enabled unless switched
// off), then every email / webhook switch as configured. Rules are left out, so a disabled
// config webhook rule does not switch off webhook subscriptions made through the API.
std::vector<alert_channel> channel_switches(const std::vector<notification_config>& notifications);

// Rank of an alert level: info 1, warning 2, critical 3, exceeded 4; 0 for anything else.
int alert_level_rank(std::string_view level);

// Whether an enabled rule takes an alert of `level` for team `team` (false for switches and
// disabled entries).
bool rule_matches(const notification_config& rule, std::string_view level, std::string_view team);

// alerts.email: the SMTP relay email rules are sent through.
struct smtp_config {
  std::string relay;         // "smtp://host:port" or "smtps://host:port" (TLS from the start)
  bool starttls = false;     // smtp:// only: require STARTTLS first; false = plain text, not tried
  std::string username;      // AUTH user; empty = no AUTH
  std::string password_env;  // name of the environment variable holding the password
  std::string from;          // envelope and From: address; required once an email rule is enabled
  std::string ca_file;       // PEM bundle to verify the relay's certificate; empty = system CAs
  bool verify_peer = true;   // verify the relay's certificate and host name
  std::int64_t timeout_ms = 10'000;  // whole conversation per message

  friend bool operator==(const smtp_config&, const smtp_config&) = default;
};

// 50/80/95/100 % at info/warning/critical/exceeded.
std::vector<alert_threshold> default_alert_thresholds();

struct alerts_config {
  // A configured list replaces the defaults entirely; sorted by percent.
  std::vector<alert_threshold> thresholds = default_alert_thresholds();
  std::vector<notification_config> notifications = {{.type = "in_app"}};
  std::optional<smtp_config> email;  // alerts.email; unset = no relay, email rules are not sent
};

// webhooks: how deliveries to webhook rules and subscriptions are made.
struct webhooks_config {
  // Allow targets on loopback, private, link-local and other non-public addresses (tests, or
  // receivers inside the operator's network). TALLY_WEBHOOKS_ALLOW_PRIVATE=1 sets it too.
  bool allow_private_targets = false;
  std::int64_t timeout_ms = 10'000;  // one attempt, connect to last byte
  // Delays between attempts: the n-th retry waits retry_schedule_ms[n-1] after the attempt
  // before it; after the last one the delivery is given up. Default 5s 5m 30m 2h 5h 10h 10h:
  // 8 attempts over about 27.6 hours.
  std::vector<std::int64_t> retry_schedule_ms = {5'000,      300'000,    1'800'000, 7'200'000,
                                                 18'000'000, 36'000'000, 36'000'000};
  int jitter_percent = 20;  // each delay is randomised by up to +-this percent (0..100)
  int max_in_flight = 256;  // deliveries in progress at once, over all targets

  friend bool operator==(const webhooks_config&, const webhooks_config&) = default;
};

struct retention_config {
  int detailed_days = 90;      // usage log per event
  int daily_days = 365;        // daily aggregates
  int monthly_days = -1;       // monthly aggregates; -1 = forever
  int aggregation_hour = 2;    // local hour (0-23) of the daily retention job
  int aggregation_minute = 0;  // from usage.aggregation.schedule "M H * * *"
};

struct tally_config {
  std::vector<price_version> pricing;  // sorted by effective_from; ids derived when not given
  limits_config limits;
  std::map<std::string, team_config> teams;  // teams: / projects: / workspaces:
  alerts_config alerts;
  webhooks_config webhooks;
  retention_config retention;
  std::int64_t late_grace_ms = 7LL * 24 * 3600 * 1000;  // usage.late_grace
  std::int64_t future_skew_ms = 5LL * 60 * 1000;        // usage.future_skew
};

// What is wrong and where: "line 12: limits.global.max_cost_per_dya: unknown key ...".
struct config_error {
  std::string message;
  int line = 0;  // 1-based; 0 when not tied to a line (unreadable file)
};

// Lets result<T, config_error>::value() throw (as std::runtime_error) when misused.
[[noreturn]] void throw_exception_from_error(const config_error& e,
                                             const boost::source_location& loc);

template <typename T>
using config_result = boost::system::result<T, config_error>;

// Unknown top-level keys are ignored (forward compatibility); unknown keys inside the sections
// Tally reads (pricing, limits, teams/projects/workspaces, alerts, webhooks, usage) are errors,
// because a misspelt limit must not silently mean "no limit".
// load_config applies apply_env_overrides; load_config_text reads the text only.
config_result<tally_config> load_config(const std::string& path);
config_result<tally_config> load_config_text(std::string_view yaml);

// The environment's overrides of the file: TALLY_WEBHOOKS_ALLOW_PRIVATE=1|true|0|false sets
// webhooks.allow_private_targets. An unset or empty variable changes nothing; another value
// is an error. Callers that build a config without load_config (no --config) call it too.
config_result<void> apply_env_overrides(tally_config& cfg);

// "7d", "12h", "30m", "45s", "250ms", combinations ("1h30m"), or a bare integer of seconds.
config_result<std::int64_t> parse_duration_ms(std::string_view text);

// "2026-01-01" (midnight UTC) or RFC 3339 ("2026-01-01T09:30:00Z", "...+02:00", fractions
// truncated to the millisecond), as UTC milliseconds since the epoch.
config_result<std::int64_t> parse_time_ms(std::string_view text);

}  // namespace tally
