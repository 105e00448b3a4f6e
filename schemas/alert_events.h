// The alert events: BudgetThresholdCrossed and BudgetThresholdResolved (decided into the ledger,
// published to tally.alerts.v1), AlertAcknowledged and AlertThresholdsSet (ledger only), as C++
// values, and their `data` codec. schemas/events.h holds them in the event variant.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "schemas/event_time.h"
#include "schemas/ids.h"
#include "schemas/money.h"

namespace tally {

// do not renumber: on-disk format
enum class alert_scope_kind : std::uint8_t {
  global = 1,
  team = 2,
  agent = 3,
  task = 4,
  session = 5
};
std::string_view to_string(alert_scope_kind k);
// False when s names no kind.
bool parse_alert_scope_kind(std::string_view s, alert_scope_kind& out);

// One threshold: percent of the limit (1..10000), level (info | warning | critical | exceeded),
// message template ({percent} {level} {scope} {scope_id} {window} {period} {limit_usd}
// {spent_usd} {remaining_usd}).
struct alert_threshold_spec {
  int percent = 0;
  std::string level;
  std::string message;
  friend bool operator==(const alert_threshold_spec&, const alert_threshold_spec&) = default;
};
// 50/80/95/100 % at info/warning/critical/exceeded.
std::vector<alert_threshold_spec> default_threshold_specs();
bool valid_alert_level(std::string_view level);

// A delivery channel switch (in_app | email | webhook), kept for the delivery side.
struct alert_channel {
  std::string type;
  bool enabled = true;
  friend bool operator==(const alert_channel&, const alert_channel&) = default;
};

// What a crossing and a resolution share: the (scope, window, period, threshold) and the amounts.
struct alert_subject {
  team_id team;  // the team whose ledger holds the event (the reporting team for global)
  alert_scope_kind kind = alert_scope_kind::team;
  std::string scope_id;  // team, agent, task or session id; "global" for the org
  std::string window;    // day | month | lifetime | run
  std::string period;    // YYYY-MM-DD | YYYY-MM | '-'
  int threshold_percent = 0;
  std::string level;
  nanos limit;
  nanos spent;
  std::int64_t occurrence = 1;  // the n-th crossing of this threshold in the period
  time_ms at = 0;               // the time of the event that caused it
  // The delivery channels (email, webhook) switched off for the team when this was decided; the
  // dispatcher sends on the others. Empty (and absent in older events): every channel on.
  std::vector<std::string> channels_off;
  friend bool operator==(const alert_subject&, const alert_subject&) = default;
};

struct budget_threshold_crossed : alert_subject {
  std::string message;
  event_id crossing_event;  // the usage (or limits) event that crossed it
  friend bool operator==(const budget_threshold_crossed&,
                         const budget_threshold_crossed&) = default;
};

struct budget_threshold_resolved : alert_subject {
  event_id alert;        // the crossing it resolves
  std::string reason;    // limit_raised | limit_removed | new_period
  event_id cause_event;  // the LimitsSet or the first usage of the new period
  friend bool operator==(const budget_threshold_resolved&,
                         const budget_threshold_resolved&) = default;
};

struct alert_acknowledged {
  team_id team;
  event_id alert;
  std::string by;  // who acknowledged (key id or JWT subject)
  friend bool operator==(const alert_acknowledged&, const alert_acknowledged&) = default;
};

// The thresholds of a team (team set) or of every team without its own (team empty).
struct alert_thresholds_set {
  team_id team;
  std::vector<alert_threshold_spec> thresholds;  // sorted by percent
  std::vector<alert_channel> notifications;
  friend bool operator==(const alert_thresholds_set&, const alert_thresholds_set&) = default;
};

// The Kafka key of an alert on tally.alerts.v1: the totals scope ('g', 't/' team, 'a/' team '/'
// agent, 'k/' team '/' task, 's/' team '/' session).
std::string alert_scope_key(const alert_subject& s);

// The `data` object of each event, and back (bad_field on a missing or malformed field).
boost::json::object alert_data(const budget_threshold_crossed& e);
boost::json::object alert_data(const budget_threshold_resolved& e);
boost::json::object alert_data(const alert_acknowledged& e);
boost::json::object alert_data(const alert_thresholds_set& e);
// Throws std::invalid_argument when the object does not hold the type.
budget_threshold_crossed read_threshold_crossed(const boost::json::object& o);
budget_threshold_resolved read_threshold_resolved(const boost::json::object& o);
alert_acknowledged read_alert_acknowledged(const boost::json::object& o);
alert_thresholds_set read_alert_thresholds_set(const boost::json::object& o);

// The thresholds object as the store keeps it: {"thresholds": [...], "notifications": [...]}.
boost::json::object thresholds_json(const std::vector<alert_threshold_spec>& t,
                                    const std::vector<alert_channel>& n);

}  // namespace tally
