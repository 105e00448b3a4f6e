// Event time: UTC milliseconds since the epoch, written as RFC 3339, and the day and month an
// instant falls in within a team's IANA time zone (howardhinnant date; g++ 12 lacks zoned_time).
// Thread-safety: pure functions; date's tz database is safe to read from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace date {
class time_zone;
}

namespace tally {

using time_ms = std::int64_t;  // UTC milliseconds since 1970-01-01

// "2026-11-23T10:00:00.123Z" (milliseconds always present, UTC).
std::string format_rfc3339(time_ms t);
// The same appended to out (no string of its own: encoders write two per usage event).
void append_rfc3339(std::string& out, time_ms t);

// Accepts RFC 3339 date-times with 'Z' or a numeric offset and optional fractional seconds
// (truncated to milliseconds).
boost::system::result<time_ms> parse_rfc3339(std::string_view text);

// Accepts "YYYY-MM-DD" (midnight UTC) or a full RFC 3339 date-time.
boost::system::result<time_ms> parse_date_or_time(std::string_view text);

// The time zone by IANA name, or nullptr when the name is unknown.
const date::time_zone* find_zone(std::string_view name);

// The periods an instant falls in, in a zone: day "YYYY-MM-DD", month "YYYY-MM".
struct periods {
  std::string day;
  std::string month;
};
periods periods_of(time_ms t, const date::time_zone* zone);

// The UTC day of an instant as "YYYY-MM-DD" (its first 7 characters are the month), without
// the zone database: org-wide (global) totals are kept in UTC periods.
struct utc_day {
  char text[11];
  std::string_view day() const { return {text, 10}; }
  std::string_view month() const { return {text, 7}; }
};
utc_day utc_day_of(time_ms t);

// Start of the next day and of the next month after t in the zone, as UTC ms (reset times).
time_ms next_day_start(time_ms t, const date::time_zone* zone);
time_ms next_month_start(time_ms t, const date::time_zone* zone);

}  // namespace tally
