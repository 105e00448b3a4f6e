// How the store keeps the usage log: rows of one team that are close in time share one RocksDB
// entry, a block, so a flush of thousands of events puts a few entries into the usage column
// instead of one per event (each a skiplist insert, the store writer's largest cost after the
// dedup markers).
//
//   block key   := the key of its LAST row (team '/' time '/' event_id, usage_log.h)
//   block value := 'b1' { varint(len) tail varint(len) row_value }   rows in key order, where
//                  tail is the row's key after "team/"
//
// The rows of a block are of one team, at most usage_block_rows of them, and the first is less
// than usage_block_window_ms older than the last. A block of one row is written as the row itself
// (key and value as usage_log.h gives them), which is also how every row was stored before
// blocks: a store holds both kinds, and readers take either.
//
// Keyed by its last row, a block sorts after every row it holds: a backward scan that has reached
// the block keyed k has read every block holding a row at or above k, so the rows it collected at
// or above k are final and go out in order at once (scan_usage_rows). A block keyed at or above
// the scan's upper bound may still hold rows below it: the scan reads blocks up to a window
// above that bound.
// Thread-safety: pure functions; a builder is used by one thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/events.h"

namespace tally {

inline constexpr time_ms usage_block_window_ms = 10;
inline constexpr std::size_t usage_block_rows = 512;

// The time of a usage log key or bound ("team/" and 13 digits, then anything); nullopt for any
// other text.
std::optional<time_ms> usage_key_time(std::string_view key);

// Cuts rows given in key order into blocks and hands each one (or a lone row) to put.
class usage_block_builder {
 public:
  using put_fn = std::function<void(std::string_view key, std::string_view value)>;
  explicit usage_block_builder(put_fn put) : put_(std::move(put)) {}
  // Rows in ascending key order; a key equal to the one before replaces its value, as a later put
  // of the same key would.
  void add(std::string_view key, std::string_view value);
  // Puts the block being built. Call once after the last add.
  void finish();

 private:
  put_fn put_;
  std::string team_;        // with its '/'
  time_ms first_time_ = 0;  // of the block's first row
  std::size_t rows_ = 0;
  std::string last_key_, first_value_;  // a block of one row is put as that row
  std::string block_;                   // 'b1' and the rows, once there are two
  std::size_t last_value_at_ = 0;       // where the last row's value (its length first) begins
};

// Calls f(row key, row value) for every row of a stored entry (a block or a lone row), in key
// order. False when the entry is a malformed block (f may have been called for rows before the
// fault).
bool for_each_usage_row(std::string_view key, std::string_view value,
                        const std::function<void(std::string_view, std::string_view)>& f);

// Every row of the stored entries handed to entry() in key order (a forward scan of the usage
// column), passed on in key order: the rows of the entries read so far that no later entry can
// precede.
class usage_rows_in_order {
 public:
  using row_fn = std::function<void(std::string_view key, std::string_view value)>;
  explicit usage_rows_in_order(row_fn f) : f_(std::move(f)) {}
  void entry(std::string_view key, std::string_view value);
  // Passes on the rows still held. Call once after the last entry.
  void finish();

 private:
  void pass_below(std::string_view bound);
  row_fn f_;
  std::map<std::string, std::string, std::less<>> rows_;
};

// The usage log's rows in [from, to), last key first, while f returns true, read through
// scan(lo, hi, g): the stored entries (blocks and lone rows) keyed in [lo, hi), last key first,
// while g returns true. from and to are usage log keys or bounds of one team (usage_log.h), or
// to is the end of the team's range (team '0'). The rows of a malformed block after its fault are
// skipped.
using usage_entry_fn = std::function<bool(std::string_view, std::string_view)>;
void scan_usage_rows(
    const std::function<void(std::string_view, std::string_view, const usage_entry_fn&)>& scan,
    std::string_view from, std::string_view to, const usage_entry_fn& f);

}  // namespace tally
