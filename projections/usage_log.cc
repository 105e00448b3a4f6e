// The usage log's row codec.
//
//   key   := team '/' time '/' event_id
//   time  := 13 decimal digits of occurred_at ms (ascending, so the fold appends at the end of
//            each team's range; pages are read backwards, newest first)
//   value := 'v1' TAB day TAB occurred_ms TAB ('R' | 'J') TAB agent TAB session TAB task
//            TAB model TAB effort TAB input TAB output TAB cache_write TAB cache_read
//            TAB cost_nanos TAB source(1|2|3) TAB price_version TAB reason
// Free text (model, effort, price_version, reason) escapes '%', TAB, CR and LF as %25, %09,
// %0D, %0A; ids never hold them.
#include "projections/usage_log.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "schemas/text_buffer.h"

namespace tally {
namespace {

void append_time(std::string& out, time_ms t) {
  char digits[13];
  auto v = std::clamp<time_ms>(t, 0, usage_log_max_ms);
  for (int i = 12; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(digits, 13);
}

// Whether free text holds a character the row escapes (a plain loop: find_first_of searches its
// set per byte).
bool needs_escape(std::string_view x) {
  bool plain = true;
  for (char c : x) plain &= c != '%' && c != '\t' && c != '\r' && c != '\n';
  return !plain;
}

void append_escaped(std::string& out, std::string_view s) {
  if (!needs_escape(s)) {  // the usual case
    out.append(s);
    return;
  }
  for (char c : s) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case '\t':
        out += "%09";
        break;
      case '\r':
        out += "%0D";
        break;
      case '\n':
        out += "%0A";
        break;
      default:
        out.push_back(c);
    }
  }
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto code = s.substr(i + 1, 2);
    if (code == "25") {
      out.push_back('%');
    } else if (code == "09") {
      out.push_back('\t');
    } else if (code == "0D") {
      out.push_back('\r');
    } else if (code == "0A") {
      out.push_back('\n');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

bool to_i64(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// The row's layout, written through out: put (text as it is), text (free text, escaped when it
// must be) and num. One layout for the two writers below.
template <class Out>
void write_row(Out& out, const usage_decided& u, bool rejected) {
  out.put("v1\t");
  out.put(u.day);
  out.put("\t");
  out.num(u.occurred_at);
  out.put(rejected ? "\tJ\t" : "\tR\t");
  out.put(u.agent.str());
  out.put("\t");
  out.put(u.session.str());
  out.put("\t");
  out.put(u.task.str());
  out.put("\t");
  out.text(u.model);
  out.put("\t");
  out.text(u.effort);
  for (auto n : {u.tokens.input, u.tokens.output, u.tokens.cache_creation, u.tokens.cache_read,
                 u.cost.count, static_cast<std::int64_t>(u.source)}) {
    out.put("\t");
    out.num(n);
  }
  out.put("\t");
  out.text(u.price_version);
  out.put("\t");
  out.text(u.reason);
}

// Into a string, escaping free text.
struct string_out : text_string {
  void text(std::string_view x) { append_escaped(s, x); }
};

// Into a buffer of the caller's that the caller made sure is large enough, for free text that
// needs no escape.
struct buffer_out : text_buffer {
  void text(std::string_view x) { put(x); }
};

}  // namespace

std::string usage_log_key(const team_id& team, time_ms occurred_at, const event_id& id) {
  std::string k;
  k.reserve(team.str().size() + id.str().size() + 15);
  k.append(team.str()).push_back('/');
  append_time(k, occurred_at);
  k.push_back('/');
  k.append(id.str());
  return k;
}

std::string usage_log_bound(const team_id& team, time_ms t) {
  std::string k = team.str() + '/';
  append_time(k, t);
  return k;
}

std::string usage_log_prefix(const team_id& team) {
  return team.str() + '/';
}

std::string encode_usage_log_row(const usage_decided& u, bool rejected) {
  // One row per usage event, written by the fold: the usual row (nothing to escape, short
  // text) is put together in a buffer on the stack and copied once.
  constexpr std::size_t fixed = 3 + 1 + 20 + 3 + 6 * (1 + 20) + 8;  // tags, numbers, tabs
  const std::size_t text = u.day.size() + u.agent.str().size() + u.session.str().size() +
                           u.task.str().size() + u.model.size() + u.effort.size() +
                           u.price_version.size() + u.reason.size();
  char buf[512];
  if (fixed + text <= sizeof buf && !needs_escape(u.model) && !needs_escape(u.effort) &&
      !needs_escape(u.price_version) && !needs_escape(u.reason)) {
    buffer_out out{{buf, buf + sizeof buf}};
    write_row(out, u, rejected);
    return std::string(buf, out.p);
  }
  std::string v;
  v.reserve(128 + u.model.size() + u.reason.size());
  string_out out{{v}};
  write_row(out, u, rejected);
  return v;
}

std::optional<usage_log_row> decode_usage_log_row(std::string_view key, std::string_view value) {
  // key: team '/' 13 digits '/' id
  const auto first = key.find('/');
  if (first == std::string_view::npos || key.size() < first + 16 || key[first + 14] != '/') {
    return std::nullopt;
  }
  usage_log_row r;
  r.team = team_id{std::string(key.substr(0, first))};
  r.id = event_id{std::string(key.substr(first + 15))};
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || value[i] == '\t') {
      f.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (f.size() != 17 || f[0] != "v1" || (f[3] != "R" && f[3] != "J")) return std::nullopt;
  r.day = std::string(f[1]);
  r.rejected = f[3] == "J";
  r.agent = agent_id{std::string(f[4])};
  r.session = session_id{std::string(f[5])};
  r.task = task_id{std::string(f[6])};
  std::int64_t source = 0;
  if (!to_i64(f[2], r.occurred_at) || !to_i64(f[9], r.tokens.input) ||
      !to_i64(f[10], r.tokens.output) || !to_i64(f[11], r.tokens.cache_creation) ||
      !to_i64(f[12], r.tokens.cache_read) || !to_i64(f[13], r.cost.count) ||
      !to_i64(f[14], source) || source < 1 || source > 3) {
    return std::nullopt;
  }
  r.source = static_cast<cost_source>(source);
  auto model = unescape(f[7]), effort = unescape(f[8]), price = unescape(f[15]),
       reason = unescape(f[16]);
  if (!model || !effort || !price || !reason) return std::nullopt;
  r.model = std::move(*model);
  r.effort = std::move(*effort);
  r.price_version = std::move(*price);
  r.reason = std::move(*reason);
  return r;
}

}  // namespace tally
