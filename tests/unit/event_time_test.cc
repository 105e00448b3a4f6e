// Event time: RFC 3339 in and out, and the day/month an instant falls in within a team's time
// zone, including offsets that are not whole hours and days that DST makes 23 or 25 hours long.
#include "schemas/event_time.h"

#include <thread>
#include <vector>

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

namespace tally {
namespace {

time_ms at(std::string_view rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return t ? *t : -1;
}

const date::time_zone* zone(std::string_view name) {
  auto* z = find_zone(name);
  EXPECT_NE(z, nullptr) << name;
  return z;
}

std::string day_of(std::string_view t, std::string_view tz) {
  auto p = periods_of(at(t), zone(tz));
  return p.day + " " + p.month;
}

TEST(event_time, formats_utc_with_milliseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1'795'428'000'123), "2026-11-23T10:00:00.123Z");
  EXPECT_EQ(format_rfc3339(1'795'428'000'000), "2026-11-23T10:00:00.000Z");
}

TEST(event_time, formats_like_the_date_library_at_every_kind_of_instant) {
  // The formatter does its own civil-date arithmetic; date::format is the reference.
  std::vector<time_ms> times = {0,
                                -1,
                                -86'400'000,
                                951'782'400'000 /* 2000-02-29 */,
                                253'402'300'799'999 /* 9999-12-31T23:59:59.999 */,
                                -62'167'219'200'000 /* 0000-01-01 */};
  std::uint64_t x = 0x9E3779B97F4A7C15ull;  // fixed seed: xorshift over ±300 years
  for (int i = 0; i < 20'000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    times.push_back(static_cast<time_ms>(x % 19'000'000'000'000ull) - 9'500'000'000'000);
  }
  for (time_ms t : times) {
    using namespace std::chrono;
    auto ref = date::format("%FT%TZ", date::sys_time<milliseconds>{milliseconds{t}});
    ASSERT_EQ(format_rfc3339(t), ref) << t;
  }
}

TEST(event_time, the_text_kept_for_the_last_instant_is_that_instant_s) {
  // append_rfc3339 keeps its thread's last text: repeats, alternations and a first call on a
  // fresh thread at any instant (-1 included) each give their own instant's text.
  std::vector<std::string> got;
  std::thread([&] {
    for (time_ms t : {time_ms{-1}, time_ms{-1}, time_ms{0}, time_ms{-1}, time_ms{1'795'428'000'123},
                      time_ms{1'795'428'000'123}, time_ms{1'795'428'000'124}}) {
      std::string out = "x";
      append_rfc3339(out, t);
      got.push_back(out);
    }
  }).join();
  EXPECT_EQ(got, (std::vector<std::string>{"x1969-12-31T23:59:59.999Z", "x1969-12-31T23:59:59.999Z",
                                           "x1970-01-01T00:00:00.000Z", "x1969-12-31T23:59:59.999Z",
                                           "x2026-11-23T10:00:00.123Z", "x2026-11-23T10:00:00.123Z",
                                           "x2026-11-23T10:00:00.124Z"}));
}

TEST(event_time, parses_zulu_offsets_and_fractions) {
  const time_ms ten = 1'795'428'000'000;  // 2026-11-23T10:00:00Z
  EXPECT_EQ(at("2026-11-23T10:00:00Z"), ten);
  EXPECT_EQ(at("2026-11-23T10:00:00z"), ten);
  EXPECT_EQ(at("2026-11-23t10:00:00Z"), ten);
  EXPECT_EQ(at("2026-11-23T12:00:00+02:00"), ten);
  EXPECT_EQ(at("2026-11-23T02:00:00-08:00"), ten);
  EXPECT_EQ(at("2026-11-23T15:30:00+05:30"), ten);
  EXPECT_EQ(at("2026-11-23T10:00:00+00:00"), ten);
  EXPECT_EQ(at("2026-11-23T10:00:00.123Z"), ten + 123);
  EXPECT_EQ(at("2026-11-23T10:00:00.5Z"), ten + 500);
  EXPECT_EQ(at("2026-11-23T10:00:00.123999Z"), ten + 123);  // truncated, not rounded
  EXPECT_EQ(at("2026-11-23T12:00:00.250+02:00"), ten + 250);
  // Round trip of the formatter.
  EXPECT_EQ(at(format_rfc3339(ten + 7)), ten + 7);
}

TEST(event_time, refuses_what_is_not_rfc3339) {
  for (std::string_view bad :
       {"", "2026-11-23", "2026-11-23T10:00:00", "2026-11-23T10:00Z", "2026-13-23T10:00:00Z",
        "yesterday", "2026-11-23T10:00:00Zjunk", "2026-11-23X10:00:00Z",
        // A malformed time of day made date::parse read an uninitialised value (fuzz_decoders).
        "2026-11-23T100.000::123Z", "2026-11-23T10:0:000.5Z", "2026-11-23T10:00:00.Z",
        "2026-11-23T10:00:00+0200"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << "input: \"" << bad << "\"";
  }
}

TEST(event_time, parse_date_or_time) {
  auto d = parse_date_or_time("2026-11-23");
  ASSERT_TRUE(d);
  EXPECT_EQ(format_rfc3339(*d), "2026-11-23T00:00:00.000Z");
  auto t = parse_date_or_time("2026-11-23T12:00:00+02:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_rfc3339(*t), "2026-11-23T10:00:00.000Z");
  EXPECT_FALSE(parse_date_or_time("2026-11-3"));
  EXPECT_FALSE(parse_date_or_time("not-a-day"));
}

TEST(event_time, find_zone) {
  EXPECT_NE(find_zone("UTC"), nullptr);
  EXPECT_NE(find_zone("Europe/Berlin"), nullptr);
  EXPECT_EQ(find_zone("Mars/Olympus_Mons"), nullptr);
  EXPECT_EQ(find_zone(""), nullptr);
}

TEST(event_time, periods_in_the_team_zone) {
  EXPECT_EQ(day_of("2026-12-01T07:30:00Z", "UTC"), "2026-12-01 2026-12");
  // 07:30Z is 23:30 PST the day before, and still November.
  EXPECT_EQ(day_of("2026-12-01T07:30:00Z", "America/Los_Angeles"), "2026-11-30 2026-11");
  EXPECT_EQ(day_of("2026-12-01T08:00:00Z", "America/Los_Angeles"), "2026-12-01 2026-12");
  // 23:30Z on Oct 31 is 00:30 CET (DST ended Oct 25): already November in Berlin.
  EXPECT_EQ(day_of("2026-10-31T23:30:00Z", "Europe/Berlin"), "2026-11-01 2026-11");
  EXPECT_EQ(day_of("2026-10-31T22:59:59.999Z", "Europe/Berlin"), "2026-10-31 2026-10");
  // Kolkata is +05:30: the day turns at 18:30Z.
  EXPECT_EQ(day_of("2026-11-23T18:29:59.999Z", "Asia/Kolkata"), "2026-11-23 2026-11");
  EXPECT_EQ(day_of("2026-11-23T18:30:00Z", "Asia/Kolkata"), "2026-11-24 2026-11");
  EXPECT_EQ(day_of("2026-11-23T16:00:00Z", "Asia/Tokyo"), "2026-11-24 2026-11");
  // New York, spring forward (2026-03-08): local midnight was 05:00Z (EST).
  EXPECT_EQ(day_of("2026-03-08T04:59:59.999Z", "America/New_York"), "2026-03-07 2026-03");
  EXPECT_EQ(day_of("2026-03-08T05:00:00Z", "America/New_York"), "2026-03-08 2026-03");
  // ...and the next midnight is at 04:00Z (EDT).
  EXPECT_EQ(day_of("2026-03-09T03:59:59.999Z", "America/New_York"), "2026-03-08 2026-03");
  EXPECT_EQ(day_of("2026-03-09T04:00:00Z", "America/New_York"), "2026-03-09 2026-03");
}

TEST(event_time, periods_agree_with_the_zone_database_at_every_instant_in_any_order) {
  // periods_of (and next_day_start, next_month_start) remember the local days they computed: across
  // DST changes (23- and 25-hour days, Lord Howe's half hour, a midnight that does not exist in
  // Havana), across zones in turn and in an order that jumps back and forth, it must answer as the
  // zone database does.
  const std::vector<std::string_view> zones = {
      "UTC",          "Europe/Paris",   "America/New_York", "Australia/Lord_Howe", "America/Havana",
      "Asia/Kolkata", "Pacific/Chatham"};
  const time_ms from = at("2026-03-06T00:00:00Z"), to = at("2026-04-08T00:00:00Z");
  std::vector<time_ms> times;
  for (time_ms t = from; t < to; t += 7 * 60'000 + 13) times.push_back(t);
  // Also the instants just before and after every local midnight hour boundary.
  for (time_ms t = from; t < to; t += 3'600'000) {
    times.push_back(t - 1);
    times.push_back(t);
  }
  std::uint64_t x = 0x2545F4914F6CDD1Dull;
  for (std::size_t i = times.size() - 1; i > 0; --i) {  // a fixed shuffle
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (x % 3 == 0) std::swap(times[i], times[x % (i + 1)]);
  }
  for (time_ms t : times) {
    for (auto name : zones) {
      const auto* z = zone(name);
      using namespace std::chrono;
      auto local = z->to_local(date::sys_time<milliseconds>{milliseconds{t}});
      const auto ref = date::format("%F", date::floor<date::days>(local));
      const auto p = periods_of(t, z);
      ASSERT_EQ(p.day, ref) << name << " at " << t;
      ASSERT_EQ(p.month, ref.substr(0, 7)) << name << " at " << t;
      // The day's and the month's ends (remembered with the day) are the first instants of the
      // next day and month.
      const time_ms day_end = next_day_start(t, z), month_end = next_month_start(t, z);
      ASSERT_GT(day_end, t) << name << " at " << t;
      ASSERT_EQ(periods_of(day_end - 1, z).day, ref) << name << " at " << t;
      ASSERT_NE(periods_of(day_end, z).day, ref) << name << " at " << t;
      ASSERT_GE(month_end, day_end) << name << " at " << t;
      ASSERT_EQ(periods_of(month_end - 1, z).month, ref.substr(0, 7)) << name << " at " << t;
      ASSERT_NE(periods_of(month_end, z).month, ref.substr(0, 7)) << name << " at " << t;
    }
  }
}

TEST(event_time, next_day_start) {
  auto next_day = [](std::string_view t, std::string_view tz) {
    return format_rfc3339(next_day_start(at(t), zone(tz)));
  };
  EXPECT_EQ(next_day("2026-11-23T10:00:00Z", "UTC"), "2026-11-24T00:00:00.000Z");
  EXPECT_EQ(next_day("2026-11-23T23:59:59.999Z", "UTC"), "2026-11-24T00:00:00.000Z");
  EXPECT_EQ(next_day("2026-11-24T00:00:00Z", "UTC"), "2026-11-25T00:00:00.000Z");
  EXPECT_EQ(next_day("2026-12-01T07:30:00Z", "America/Los_Angeles"), "2026-12-01T08:00:00.000Z");
  EXPECT_EQ(next_day("2026-11-23T10:00:00Z", "Asia/Kolkata"), "2026-11-23T18:30:00.000Z");
  // Spring forward: 2026-03-08 in New York is 23 hours long (05:00Z to 04:00Z).
  EXPECT_EQ(next_day("2026-03-08T12:00:00Z", "America/New_York"), "2026-03-09T04:00:00.000Z");
  // Fall back: 2026-11-01 is 25 hours long (04:00Z to 05:00Z next day).
  EXPECT_EQ(next_day("2026-11-01T12:00:00Z", "America/New_York"), "2026-11-02T05:00:00.000Z");
  // Berlin's 2026-10-25 ends at 23:00Z (CET), having started at 22:00Z the day before (CEST).
  EXPECT_EQ(next_day("2026-10-25T12:00:00Z", "Europe/Berlin"), "2026-10-25T23:00:00.000Z");
  // Santiago springs forward at local midnight on 2026-09-06: 00:00 does not exist, so the
  // day starts at the first valid instant, 01:00 -03 = 04:00Z.
  EXPECT_EQ(next_day("2026-09-05T12:00:00Z", "America/Santiago"), "2026-09-06T04:00:00.000Z");
}

TEST(event_time, next_month_start) {
  auto next_month = [](std::string_view t, std::string_view tz) {
    return format_rfc3339(next_month_start(at(t), zone(tz)));
  };
  EXPECT_EQ(next_month("2026-11-23T10:00:00Z", "UTC"), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(next_month("2026-12-31T23:59:59.999Z", "UTC"), "2027-01-01T00:00:00.000Z");
  // Still November in Los Angeles; December starts at 08:00Z.
  EXPECT_EQ(next_month("2026-12-01T07:30:00Z", "America/Los_Angeles"), "2026-12-01T08:00:00.000Z");
  // Already November in Berlin; December starts at 23:00Z on Nov 30 (CET).
  EXPECT_EQ(next_month("2026-10-31T23:30:00Z", "Europe/Berlin"), "2026-11-30T23:00:00.000Z");
  // March in New York starts in EST and April starts in EDT.
  EXPECT_EQ(next_month("2026-03-01T12:00:00Z", "America/New_York"), "2026-04-01T04:00:00.000Z");
  EXPECT_EQ(next_month("2026-11-23T10:00:00Z", "Asia/Kolkata"), "2026-11-30T18:30:00.000Z");
}

}  // namespace
}  // namespace tally
