// config.yaml: pricing versions, limits (global, per team, per agent), teams with their time
// zones, alert thresholds and channels, retention, and the event-time tolerances. Money is read
// from the scalar's text with parse_usd, never through binary floating point.
// Thread-safety: load_config* are pure functions (apart from reading the file / tz database).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

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

struct notification_config {
  std::string type;  // in_app | email | webhook
  bool enabled = true;
  std::vector<std::string> recipients;  // email
  std::string url;                      // webhook

  friend bool operator==(const notification_config&, const notification_config&) = default;
};

// 50/80/95/100 % at info/warning/critical/exceeded.
std::vector<alert_threshold> default_alert_thresholds();

struct alerts_config {
  // A configured list replaces the defaults entirely; sorted by percent.
  std::vector<alert_threshold> thresholds = default_alert_thresholds();
  std::vector<notification_config> notifications = {{.type = "in_app"}};
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
// Tally reads (pricing, limits, teams/projects/workspaces, alerts, usage) are errors, because a
// misspelt limit must not silently mean "no limit".
config_result<tally_config> load_config(const std::string& path);
config_result<tally_config> load_config_text(std::string_view yaml);

// "7d", "12h", "30m", "45s", "250ms", combinations ("1h30m"), or a bare integer of seconds.
config_result<std::int64_t> parse_duration_ms(std::string_view text);

// "2026-01-01" (midnight UTC) or RFC 3339 ("2026-01-01T09:30:00Z", "...+02:00", fractions
// truncated to the millisecond), as UTC milliseconds since the epoch.
config_result<std::int64_t> parse_time_ms(std::string_view text);

}  // namespace tally
