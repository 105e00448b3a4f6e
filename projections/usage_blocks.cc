#include "projections/usage_blocks.h"

#include <algorithm>

#include "projections/usage_log.h"

namespace tally {
namespace {

constexpr std::string_view block_tag = "b1";

void put_varint(std::string& out, std::size_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view& in, std::size_t& v) {
  v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (in.empty()) return false;
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::size_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool get_text(std::string_view& in, std::string_view& text) {
  std::size_t n = 0;
  if (!get_varint(in, n) || n > in.size()) return false;
  text = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

// "team/" of a usage log key (with its '/'); empty when there is none.
std::string_view team_part(std::string_view key) {
  const auto slash = key.find('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash + 1);
}

// usage_log_bound of the team of a "team/" part.
std::string bound_of(std::string_view team, time_ms t) {
  return usage_log_bound(team_id{std::string(team.substr(0, team.size() - 1))}, t);
}

}  // namespace

std::optional<time_ms> usage_key_time(std::string_view key) {
  const auto team = team_part(key);
  if (team.empty() || key.size() < team.size() + 13) return std::nullopt;
  time_ms t = 0;
  for (char c : key.substr(team.size(), 13)) {
    if (c < '0' || c > '9') return std::nullopt;
    t = t * 10 + (c - '0');
  }
  return t;
}

void usage_block_builder::add(std::string_view key, std::string_view value) {
  if (rows_ > 0 && key == last_key_) {  // the later value, as a later put would leave it
    if (rows_ == 1) {
      first_value_.assign(value);
    } else {
      block_.resize(last_value_at_);
      put_varint(block_, value.size());
      block_.append(value);
    }
    return;
  }
  const auto time = usage_key_time(key);
  if (rows_ > 0 && (!time || team_part(key) != team_ ||
                    *time - first_time_ >= usage_block_window_ms || rows_ == usage_block_rows)) {
    finish();
  }
  if (!time) {  // not a usage log key: stored as it is
    put_(key, value);
    return;
  }
  if (rows_ == 0) {
    team_.assign(team_part(key));
    first_time_ = *time;
    first_value_.assign(value);
  } else {
    if (rows_ == 1) {
      block_.assign(block_tag);
      put_varint(block_, last_key_.size() - team_.size());
      block_.append(last_key_, team_.size());
      put_varint(block_, first_value_.size());
      block_.append(first_value_);
    }
    put_varint(block_, key.size() - team_.size());
    block_.append(key.substr(team_.size()));
    last_value_at_ = block_.size();
    put_varint(block_, value.size());
    block_.append(value);
  }
  last_key_.assign(key);
  ++rows_;
}

void usage_block_builder::finish() {
  if (rows_ == 1) put_(last_key_, first_value_);
  if (rows_ > 1) put_(last_key_, block_);
  rows_ = 0;
}

bool for_each_usage_row(std::string_view key, std::string_view value,
                        const std::function<void(std::string_view, std::string_view)>& f) {
  if (!value.starts_with(block_tag)) {
    f(key, value);
    return true;
  }
  const auto team = team_part(key);
  if (team.empty()) return false;
  value.remove_prefix(block_tag.size());
  std::string row_key(team);
  while (!value.empty()) {
    std::string_view tail, row;
    if (!get_text(value, tail) || !get_text(value, row)) return false;
    row_key.resize(team.size());
    row_key.append(tail);
    f(row_key, row);
  }
  return true;
}

void usage_rows_in_order::entry(std::string_view key, std::string_view value) {
  for_each_usage_row(key, value,
                     [&](std::string_view rk, std::string_view rv) { rows_.emplace(rk, rv); });
  // A later entry is keyed at or above this one, so its first row is at or above the key's time
  // less the window (and in this team or a later one).
  const auto t = usage_key_time(key);
  if (!t) return pass_below(key);
  pass_below(bound_of(team_part(key), std::max<time_ms>(0, *t - usage_block_window_ms + 1)));
}

void usage_rows_in_order::finish() {
  for (auto& [k, v] : rows_) f_(k, v);
  rows_.clear();
}

void usage_rows_in_order::pass_below(std::string_view bound) {
  auto end = rows_.lower_bound(bound);
  for (auto it = rows_.begin(); it != end; ++it) f_(it->first, it->second);
  rows_.erase(rows_.begin(), end);
}

void scan_usage_rows(
    const std::function<void(std::string_view, std::string_view, const usage_entry_fn&)>& scan,
    std::string_view from, std::string_view to, const usage_entry_fn& f) {
  // A block keyed below `to` + the window may hold rows below `to`; one keyed at or above it
  // begins at or above `to` (its first row is less than the window older than its last).
  std::string upper(to);
  if (auto t = usage_key_time(to)) {
    const auto team = team_part(to);
    upper = *t + usage_block_window_ms > usage_log_max_ms
                ? std::string(team.substr(0, team.size() - 1)) + '0'
                : bound_of(team, *t + usage_block_window_ms);
  }
  // Rows read and not passed on yet, last key first.
  std::map<std::string, std::string, std::greater<>> rows;
  bool go = true;
  auto pass_down_to = [&](std::string_view k) {  // every row at or above k is final
    while (go && !rows.empty() && rows.begin()->first >= k) {
      go = f(rows.begin()->first, rows.begin()->second);
      rows.erase(rows.begin());
    }
  };
  scan(from, upper, [&](std::string_view k, std::string_view v) {
    for_each_usage_row(k, v, [&](std::string_view rk, std::string_view rv) {
      if (rk >= from && rk < to) rows.emplace(rk, rv);
    });
    pass_down_to(k);
    return go;
  });
  pass_down_to(std::string_view());
}

}  // namespace tally
