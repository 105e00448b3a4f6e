// The store layout: every RocksDB key Tally writes, as a grammar, and the fixed-width value
// of a totals row. One place to read the whole layout.
//
//   column family "totals":
//     key    := scope '/' window '/' period
//     scope  := 'g'                         everything
//             | 'gm/' model                 one model, all teams
//             | 't/' team                   one team
//             | 'a/' team '/' agent         team x agent (agent ids are unique in the org)
//             | 'm/' team '/' model         team x model
//             | 'e/' team '/' effort        team x effort level
//             | 'k/' team '/' task          one task (lifetime window only)
//             | 's/' team '/' session       one session (lifetime window only)
//     window := 'd' | 'm' | 'l'             day, month, lifetime
//     period := YYYY-MM-DD | YYYY-MM | '-'    in UTC for 'g' and 'gm/', else in the team's zone
//     value  := 9 x int64 little-endian     see `totals` below
//   column family "entities":
//     key := 'team/' team | 'agent/' agent | 'task/' team '/' task | 'session/' team '/' session
//          | 'limits/' ('g' | 't/' team | 'a/' agent)
//          | 'sessionof/' session                      the team of a session id
//          | 'taskcount/' team                         tasks created in the team
//          | 'latest/' agent                           the agent's latest session (and task)
//          | 'alert/' time '/' alert_id                feed row (time: 13-digit ms of the crossing)
//          | 'alertid/' alert_id                       the key of its feed row
//          | 'alertstate/' base_id                     {"occurrence": n, "active": bool} per
//                                                      (scope, window, period, threshold)
//          | 'alertlast/' scope '/' window             latest period with a crossing
//          | 'alertcfg/' ('g' | 't/' team)             thresholds set by AlertThresholdsSet
//          | 'active/' ('g' | 't/' team | 'a/' agent)  active sessions {"count"} (slots.h)
//          | 'queue/' team                             queued sessions, oldest first (slots.h)
//          | 'reservation/' team '/' reservation       one reservation and its status
//          | 'holds/' team                             the team's open reservations, oldest
//                                                      first (reservations.h)
//          | 'holdcount/g'                             open holds org-wide {"count"}
//          | 'insight/' team '/' insight_id            a dismissed optimisation insight
//                                                      {"dismissed_at", "by"} (insight_state.h)
//     value := JSON object (fields in a fixed order); queue and holds: JSON array
//   column family "dedup":   key := team '/' event_id          value := day YYYY-MM-DD [answer]
//     answer := TAB ('R' | 'J') TAB cost_nanos TAB over stop TAB request_hash TAB reason
//               (usage events: what was answered, for a retried request; over/stop are 0|1)
//   column family "outbox":  key := 20-digit sequence           value := CloudEvent JSON
//                            (alerts to publish to tally.alerts.v1; deleted once acknowledged)
//   column family "meta":    key := 'ledger/' partition         value := next offset (int64 LE)
//                            key := 'reports/' partition        value := last decided offset
//                            key := 'skipped/' reason           value := count (int64 LE)
//                            key := 'outbox/next'               value := next outbox sequence
//   column family "usage":   key := team '/' time '/' event_id  one row per decided usage event
//                            time := 13 digits of the event time in ms; value := the row
//                            (codec and grammar: usage_log.cc); rows of a team less than 10 ms
//                            apart are stored as one block keyed by its last row
//                            (usage_blocks.h)
// Free-text components (model, effort) escape '%' and '/' as %25 and %2F; ids never hold them.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tally {

// Counters of one (scope, window, period). do not reorder: on-disk format.
struct totals {
  std::int64_t cost_nanos = 0;
  std::int64_t rejected_cost_nanos = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t cache_read_tokens = 0;
  std::int64_t events = 0;
  std::int64_t rejected_events = 0;
  std::int64_t unpriced_events = 0;

  std::int64_t tokens() const {
    return input_tokens + output_tokens + cache_creation_tokens + cache_read_tokens;
  }
  // Inline, field by field: ten rows take each usage event's delta, and the compiler adds
  // the nine counters with a few vector instructions.
  totals& operator+=(const totals& o) {
    cost_nanos += o.cost_nanos;
    rejected_cost_nanos += o.rejected_cost_nanos;
    input_tokens += o.input_tokens;
    output_tokens += o.output_tokens;
    cache_creation_tokens += o.cache_creation_tokens;
    cache_read_tokens += o.cache_read_tokens;
    events += o.events;
    rejected_events += o.rejected_events;
    unpriced_events += o.unpriced_events;
    return *this;
  }
  totals& operator-=(const totals& o) {
    cost_nanos -= o.cost_nanos;
    rejected_cost_nanos -= o.rejected_cost_nanos;
    input_tokens -= o.input_tokens;
    output_tokens -= o.output_tokens;
    cache_creation_tokens -= o.cache_creation_tokens;
    cache_read_tokens -= o.cache_read_tokens;
    events -= o.events;
    rejected_events -= o.rejected_events;
    unpriced_events -= o.unpriced_events;
    return *this;
  }
  friend bool operator==(const totals&, const totals&) = default;
};

inline constexpr std::size_t totals_encoded_size = 9 * 8;
static_assert(sizeof(totals) == totals_encoded_size, "a new counter needs += and -= too");
std::string encode_totals(const totals& t);
bool decode_totals(std::string_view bytes, totals& out);

std::string encode_i64(std::int64_t v);
bool decode_i64(std::string_view bytes, std::int64_t& out);

// Escapes '%' and '/' in a free-text key component.
std::string escape_component(std::string_view s);

// Builders for the totals keys.
inline constexpr char window_day = 'd';
inline constexpr char window_month = 'm';
inline constexpr char window_lifetime = 'l';
std::string totals_key(std::string_view scope, char window, std::string_view period);

}  // namespace tally
