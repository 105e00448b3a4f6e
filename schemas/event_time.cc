#include "schemas/event_time.h"

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
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

// Fast path for the form Tally itself writes, "YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z", with every
// field in range and the year from 1970: the same value as the istream parse below, without
// an istream (the fold reads two of these per event). Any other text takes the full parse.
bool two_digits(const char* p, int& out) {
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return false;
  out = (p[0] - '0') * 10 + (p[1] - '0');
  return true;
}

std::optional<time_ms> fast_rfc3339(std::string_view t) {
  if (t.size() < 20 || t.size() > 24 || t.back() != 'Z' || t[4] != '-' || t[7] != '-' ||
      t[10] != 'T' || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  int c, yy, mo, d, h, mi, sec;
  if (!two_digits(t.data(), c) || !two_digits(t.data() + 2, yy) || !two_digits(t.data() + 5, mo) ||
      !two_digits(t.data() + 8, d) || !two_digits(t.data() + 11, h) ||
      !two_digits(t.data() + 14, mi) || !two_digits(t.data() + 17, sec))
    return std::nullopt;
  int year = c * 100 + yy;
  if (year < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
    return std::nullopt;
  std::int64_t ms = 0;
  std::size_t i = 19;
  if (t[i] == '.') {
    ++i;
    int digits = 0;
    for (; i + 1 < t.size(); ++i, ++digits) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      ms = ms * 10 + (t[i] - '0');
    }
    if (digits < 1 || digits > 3) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (i + 1 != t.size()) return std::nullopt;
  date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(mo)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t days = date::sys_days(ymd).time_since_epoch().count();
  return ((days * 24 + h) * 60 + mi) * 60'000LL + sec * 1'000LL + ms;
}

}  // namespace

std::string format_rfc3339(time_ms t) {
  std::string out;
  append_rfc3339(out, t);
  return out;
}

void append_rfc3339(std::string& out, time_ms t) {
  // The events of an append share a few milliseconds, each written twice (time, occurred_at):
  // the last text written on this thread is kept.
  thread_local bool have_last = false;
  thread_local time_ms last_t = 0;
  thread_local char last[24];
  if (have_last && t == last_t) {
    out.append(last, sizeof last);
    return;
  }
  // Civil-date arithmetic and fixed-width digits: no ostream (answers write several of these).
  auto day = date::floor<date::days>(to_sys(t));
  date::year_month_day ymd{day};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {
    out += date::format("%FT%TZ", to_sys(t));
    return;
  }
  std::int64_t ms_of_day = t - std::int64_t{day.time_since_epoch().count()} * 86'400'000;
  char text[24];
  auto put = [&](std::size_t at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) text[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(year), 4);
  text[4] = '-';
  put(5, static_cast<unsigned>(ymd.month()), 2);
  text[7] = '-';
  put(8, static_cast<unsigned>(ymd.day()), 2);
  text[10] = 'T';
  put(11, static_cast<unsigned>(ms_of_day / 3'600'000), 2);
  text[13] = ':';
  put(14, static_cast<unsigned>(ms_of_day / 60'000 % 60), 2);
  text[16] = ':';
  put(17, static_cast<unsigned>(ms_of_day / 1'000 % 60), 2);
  text[19] = '.';
  put(20, static_cast<unsigned>(ms_of_day % 1'000), 3);
  text[23] = 'Z';
  out.append(text, sizeof text);
  std::memcpy(last, text, sizeof text);
  last_t = t;
  have_last = true;
}

namespace {

// The RFC 3339 shape, checked before date::parse sees the text: given a malformed time of day
// ("T100.000::123") its %T reads an uninitialised long double (undefined behaviour, found by
// tests/fuzz/fuzz_decoders).
bool rfc3339_shape(std::string_view s) {
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || s[4] != '-' || !digits(5, 2) || s[7] != '-' || !digits(8, 2) ||
      !digits(11, 2) || s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return false;
  }
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    if (!digits(++i, 1)) return false;
    while (digits(i, 1)) ++i;
  }
  if (i + 1 == s.size() && (s[i] == 'Z' || s[i] == 'z')) return true;
  return i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && digits(i + 1, 2) && s[i + 3] == ':' &&
         digits(i + 4, 2);
}

}  // namespace

boost::system::result<time_ms> parse_rfc3339(std::string_view text) {
  if (auto v = fast_rfc3339(text)) return *v;
  // date::parse wants an istream; fractional seconds are read by %S at the precision of the
  // target duration, so parse into microseconds and truncate.
  std::string s(text);
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  s[10] = 'T';
  if (!rfc3339_shape(s)) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
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
  // The zone database is searched by name; the few zones a node's teams use are remembered.
  thread_local std::array<std::pair<std::string, const date::time_zone*>, 8> known;
  thread_local std::size_t next_slot = 0;
  for (const auto& [n, z] : known) {
    if (z && n == name) return z;
  }
  try {
    const auto* z = date::locate_zone(name);
    known[next_slot++ % known.size()] = {std::string(name), z};
    return z;
  } catch (const std::exception&) {
    return nullptr;
  }
}

namespace {

// A local day as text: YYYY-MM-DD (longer for years beyond four digits).
std::string day_text(date::local_days day) {
  date::year_month_day ymd{day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

time_ms uncached_next_day_start(time_ms t, const date::time_zone* zone) {
  auto local = zone->to_local(to_sys(t));
  auto day = date::floor<date::days>(local);
  return local_midnight(day + date::days{1}, zone);
}

time_ms uncached_next_month_start(time_ms t, const date::time_zone* zone) {
  auto local = zone->to_local(to_sys(t));
  date::year_month_day ymd{date::floor<date::days>(local)};
  auto next = date::year_month{ymd.year(), ymd.month()} + date::months{1};
  return local_midnight(date::local_days{next / 1}, zone);
}

// A local day with the UTC instants that bound it and the start of the next month.
struct known_day {
  const date::time_zone* zone = nullptr;
  time_ms from = 0, to = 0;  // [from, to): the local day, in UTC ms
  time_ms month_to = 0;      // the start of the next local month
  char text[11] = {};
};

// Each usage report and budget read asks for the day of an instant, its end and its month's end,
// nearly always for a day asked before: the last few local days (per zone) are remembered.
// Null for an instant whose local day cannot be remembered (a year beyond four digits).
const known_day* day_of(time_ms t, const date::time_zone* zone) {
  thread_local std::array<known_day, 8> known;
  thread_local std::size_t next_slot = 0;
  for (const auto& k : known) {
    if (k.zone == zone && t >= k.from && t < k.to) return &k;
  }
  const auto day = date::floor<date::days>(zone->to_local(to_sys(t)));
  const std::string text = day_text(day);
  const time_ms from = local_midnight(day, zone), to = local_midnight(day + date::days{1}, zone);
  if (text.size() != 10 || t < from || t >= to) return nullptr;
  auto& k = known[next_slot++ % known.size()];
  k.zone = zone;
  k.from = from;
  k.to = to;
  k.month_to = uncached_next_month_start(t, zone);
  std::memcpy(k.text, text.data(), 10);
  return &k;
}

}  // namespace

periods periods_of(time_ms t, const date::time_zone* zone) {
  if (const auto* k = day_of(t, zone)) return periods{{k->text, 10}, {k->text, 7}};
  periods p;
  p.day = day_text(date::floor<date::days>(zone->to_local(to_sys(t))));
  p.month = p.day.substr(0, 7);
  return p;
}

time_ms next_day_start(time_ms t, const date::time_zone* zone) {
  if (const auto* k = day_of(t, zone)) return k->to;
  return uncached_next_day_start(t, zone);
}

time_ms next_month_start(time_ms t, const date::time_zone* zone) {
  if (const auto* k = day_of(t, zone)) return k->month_to;
  return uncached_next_month_start(t, zone);
}

}  // namespace tally
