// The events of the ledger (tally.ledger.v1) and the raw usage report (tally.reports.v1), as
// C++ values, and their codec: CloudEvents 1.0 in structured JSON mode in the record value.
// The JSON Schemas of the same types are in schemas/events/*.schema.json.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/system/result.hpp>

#include "schemas/alert_events.h"
#include "schemas/event_time.h"
#include "schemas/ids.h"
#include "schemas/insight_events.h"
#include "schemas/money.h"
#include "schemas/usage.h"

namespace tally {

// Where a decided usage event came from, when it came from the reports topic.
struct report_ref {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  friend bool operator==(const report_ref&, const report_ref&) = default;
};

struct team_created {
  team_id team;
  std::string name;
  std::string timezone = "UTC";
};

struct agent_registered {
  team_id team;
  agent_id agent;
  std::string name;
  std::string type;
};

struct task_created {
  team_id team;
  task_id task;
  std::string title;
  std::string priority;
  std::string task_type;
  std::vector<std::string> tags;
  std::optional<nanos> budget;  // from a "budget:X" tag or explicit
};

// Limits of one scope, replacing the scope's earlier ones. Absent fields mean "no limit".
struct limit_set {
  std::optional<nanos> cost_per_day, cost_per_month, cost_per_run;
  std::optional<std::int64_t> tokens_per_day, tokens_per_month, tokens_per_run;
  std::optional<std::int64_t> max_concurrent_sessions;
  friend bool operator==(const limit_set&, const limit_set&) = default;
  // Whether it has a day or month limit (only then are the scope's totals read against it).
  bool has_window_limits() const {
    return cost_per_day || cost_per_month || tokens_per_day || tokens_per_month;
  }
};

// do not renumber: on-disk format
enum class limit_scope : std::uint8_t { global = 1, team = 2, agent = 3 };

struct limits_set {
  team_id team;  // the team the scope belongs to (empty for global)
  limit_scope scope = limit_scope::team;
  std::string scope_id;  // team or agent id; empty for global
  limit_set limits;
};

struct session_opened {
  team_id team;
  agent_id agent;
  session_id session;
  task_id task;
  std::string model;
  std::string effort;
  bool queued = false;  // opened queued: a concurrency limit was reached (see SessionActivated)
};

// do not renumber: on-disk format
enum class session_status : std::uint8_t {
  active = 1,
  queued = 2,
  completed = 3,
  failed = 4,
  terminated = 5,
};
std::string_view to_string(session_status s);

struct session_ended {
  team_id team;
  session_id session;
  session_status status = session_status::completed;
};

struct session_terminated {
  team_id team;
  session_id session;
  std::string reason;
};

// A queued session became active: a slot freed, decided with the event that freed it.
struct session_activated {
  team_id team;
  session_id session;
};

// Budget held for a session until settled by a usage report, released, or expired (at
// expires_at, without an event). See projections/reservations.h.
struct reservation_held {
  team_id team;
  std::string reservation;  // reservation id (an id, see valid_id)
  session_id session;
  agent_id agent;
  task_id task;
  nanos amount;
  time_ms expires_at = 0;
  std::string request_hash;  // fingerprint of the API request (a reused id with another body)
};

// A held reservation stops holding: "settled" by the usage report `usage_event`, whose cost was
// `actual`, or "released" on request.
struct reservation_released {
  team_id team;
  std::string reservation;
  session_id session;
  std::string reason;
  std::optional<nanos> actual;
  event_id usage_event;
};

// do not renumber: on-disk format
enum class cost_source : std::uint8_t { reported = 1, computed = 2, unpriced = 3 };
std::string_view to_string(cost_source s);

// UsageRecorded and UsageRejected carry the same facts; the type says which.
struct usage_decided {
  team_id team;
  agent_id agent;
  session_id session;  // may be empty: usage reported outside a session
  task_id task;        // may be empty
  std::string model;
  std::string effort;
  token_counts tokens;
  nanos cost;
  cost_source source = cost_source::computed;
  std::string price_version;
  time_ms occurred_at = 0;
  std::string day;    // period in the team's time zone, decided once
  std::string month;  // so a replay never consults the zone database
  bool over_budget = false;
  bool stop = false;   // the caller is told action: "stop"
  std::string reason;  // why rejected, or which limit was crossed
  std::int64_t epoch = 0;
  std::optional<report_ref> report;
  // Fingerprint of the API request that caused it (16 hex digits); a retry with the same
  // Idempotency-Key and another body is refused by comparing it. Empty from the reports topic.
  std::string request_hash;
};

struct usage_recorded : usage_decided {};
struct usage_rejected : usage_decided {};

using event_payload =
    std::variant<team_created, agent_registered, task_created, limits_set, session_opened,
                 session_ended, session_terminated, usage_recorded, usage_rejected,
                 budget_threshold_crossed, budget_threshold_resolved, alert_acknowledged,
                 alert_thresholds_set, session_activated, reservation_held, reservation_released,
                 insight_dismissed>;

struct event {
  event_id id;
  time_ms time = 0;  // CloudEvents `time`: when the fact happened
  std::string source = "tally";
  event_payload payload;
};

// The CloudEvents `type` of a payload, e.g. "tally.usage_recorded.v1".
std::string_view event_type_name(const event_payload& p);
// The team (Kafka key) of an event; empty for global scope.
const team_id& event_team(const event& e);

// Structured-mode CloudEvent JSON.
std::string encode_event(const event& e);
// The same text appended to out.
void append_event(std::string& out, const event& e);
// The id of an event as encode_event writes it, read from the head of the text without decoding
// the rest; nullopt when the text does not start as encode_event starts it, or the id holds a
// character that JSON escapes.
std::optional<std::string_view> encoded_event_id(std::string_view json);
// The same text built as a Boost.JSON value: the reference the codec test holds encode_event to.
std::string encode_event_with_boost_json(const event& e);

enum class decode_errc {
  ok = 0,
  malformed_json = 1,
  not_cloudevent = 2,
  unknown_type = 3,
  bad_field = 4,
};
const boost::system::error_category& decode_category() noexcept;
inline boost::system::error_code make_error_code(decode_errc e) noexcept {
  return {static_cast<int>(e), decode_category()};
}

// The limits object as events and the store write it: {"cost_per_day_nanos": ..., ...}.
std::string encode_limit_set(const limit_set& l);
boost::system::result<limit_set> decode_limit_set(std::string_view json);

// Decodes a record value. Unknown types and malformed values are errors, never exceptions.
boost::system::result<event> decode_event(std::string_view json);

// Several events in one text: a CloudEvents JSON batch (media type
// application/cloudevents-batch+json), an array of the events' structured texts in order. One
// ledger record holds the events of one append this way when there are several.
inline constexpr std::string_view event_batch_content_type = "application/cloudevents-batch+json";
std::string encode_event_batch(const std::vector<event>& events);
// The events of a ledger record: a batch, or one event. An error when the batch is not a
// non-empty array of events or any of them does not decode (the record is skipped whole).
boost::system::result<std::vector<event>> decode_ledger_record(std::string_view text);
// The id of a batch's first event as encode_event_batch writes it (see encoded_event_id).
std::optional<std::string_view> encoded_batch_first_id(std::string_view json);

// A usage report as fleets publish it on tally.reports.v1 (or POST it, later): plain JSON or a
// CloudEvent whose data is the report. Money stays text until the decider parses it.
struct usage_report {
  event_id id;  // client event_id; empty when the client gave none
  team_id team;
  agent_id agent;
  session_id session;
  task_id task;
  std::string model;
  std::string effort;
  token_counts tokens;
  std::optional<nanos> cost;  // cost_usd, exact
  std::optional<time_ms> occurred_at;
  std::string request_hash;  // set by the API (see usage_decided)
  std::string reservation;   // the reservation the report settles; empty: none
};

boost::system::result<usage_report> decode_usage_report(std::string_view json);
std::string encode_usage_report(const usage_report& r);

// Ids are 1..200 printable ASCII characters other than '/', space and '"': they appear in
// store keys, where '/' separates components.
bool valid_id(std::string_view id);

}  // namespace tally

template <>
struct boost::system::is_error_code_enum<tally::decode_errc> : std::true_type {};
