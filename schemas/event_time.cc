#include "schemas/event_time.h"

#include <chrono>
#include <sstream>

#include <date/date.h>
#include <date/tz.h>

namespace tally {
namespace {

using namespace std::chrono;
using sys_ms = date::sys_time<milliseconds>;

sys_ms to_sys(time_ms t) {
  return sys_ms{milliseconds{t}};
}

// Midnight of a local day in a zone; for days that start in a DST gap, the first valid instant.
time_ms local_midnight(date::local_days d, const date::time_zone* zone) {
  auto info = zone->get_info(date::local_seconds{d.time_since_epoch()});
  date::sys_seconds s;
  if (info.result == date::local_info::nonexistent) {
    s = info.second.begin;
  } else {
    s = date::sys_seconds{d.time_since_epoch()} - info.first.offset;
  }
  return duration_cast<milliseconds>(s.time_since_epoch()).count();
}

}  // namespace

std::string format_rfc3339(time_ms t) {
  return date::format("%FT%TZ", to_sys(t));
}

boost::system::result<time_ms> parse_rfc3339(std::string_view text) {
  // date::parse wants an istream; fractional seconds are read by %S at the precision of the
  // target duration, so parse into microseconds and truncate.
  std::string s(text);
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  s[10] = 'T';
  date::sys_time<microseconds> tp;
  bool zulu = s.back() == 'Z' || s.back() == 'z';
  std::istringstream in(zulu ? s.substr(0, s.size() - 1) : s);
  if (zulu) {
    in >> date::parse("%FT%T", tp);
  } else {
    minutes offset{0};
    in >> date::parse("%FT%T%Ez", tp, offset);
  }
  if (in.fail() || in.peek() != std::char_traits<char>::eof()) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  return duration_cast<milliseconds>(tp.time_since_epoch()).count();
}

boost::system::result<time_ms> parse_date_or_time(std::string_view text) {
  if (text.size() == 10) {
    date::sys_days d;
    std::istringstream in{std::string(text)};
    in >> date::parse("%F", d);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) {
      return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    return duration_cast<milliseconds>(d.time_since_epoch()).count();
  }
  return parse_rfc3339(text);
}

utc_day utc_day_of(time_ms t) {
  auto d = date::floor<date::days>(to_sys(t));
  date::year_month_day ymd{d};
  // On the fold's path: digits by hand, not snprintf. Years 0000-9999.
  utc_day out;
  auto put = [&](int at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10)
      out.text[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  out.text[4] = '-';
  put(5, static_cast<unsigned>(ymd.month()), 2);
  out.text[7] = '-';
  put(8, static_cast<unsigned>(ymd.day()), 2);
  out.text[10] = '\0';
  return out;
}

const date::time_zone* find_zone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

periods periods_of(time_ms t, const date::time_zone* zone) {
  auto local = zone->to_local(to_sys(t));
  auto day = date::floor<date::days>(local);
  date::year_month_day ymd{day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  periods p;
  p.day = buf;
  p.month = p.day.substr(0, 7);
  return p;
}

time_ms next_day_start(time_ms t, const date::time_zone* zone) {
  auto local = zone->to_local(to_sys(t));
  auto day = date::floor<date::days>(local);
  return local_midnight(day + date::days{1}, zone);
}

time_ms next_month_start(time_ms t, const date::time_zone* zone) {
  auto local = zone->to_local(to_sys(t));
  date::year_month_day ymd{date::floor<date::days>(local)};
  auto next = date::year_month{ymd.year(), ymd.month()} + date::months{1};
  return local_midnight(date::local_days{next / 1}, zone);
}

}  // namespace tally
