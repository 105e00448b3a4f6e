// The delivery state of the alert channels (webhooks, email), in a RocksDB of its own beside the
// projections (`tally replay` rebuilds the projections, never this): for every (target, alert)
// a delivery row with its state and attempt count, a due-time index of what is pending, the log
// of attempts, the alerts' bodies, and the consumed offsets of tally.alerts.v1. A consumed
// alert's deliveries and its offset are written in one batch, so a restart neither loses a
// pending delivery nor creates it twice.
//
// Keys: "o/<partition>" next offset; "e/<event id>" the alert (CloudEvent JSON); "d/<target>/
// <event id>" delivery row; "q/<due ms, 15 digits>/<target>/<event id>" pending; "l/<target>/
// <created ms, 15 digits>/<event id>" listing order; "a/<target>/<event id>/<attempt, 4 digits>"
// one attempt.
// Thread-safety: every member may be called from any thread (RocksDB's guarantees); a delivery
// row is changed by one thread at a time (the dispatcher's scheduler).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>

#include "schemas/event_time.h"

namespace tally {

enum class delivery_state { pending, delivered, dead, cancelled };
std::string_view to_string(delivery_state s);

struct delivery_row {
  std::string target;  // webhook subscription id or email rule id
  std::string event_id;
  std::string channel;     // webhook | email
  std::string event_type;  // budget_threshold_crossed | budget_threshold_resolved
  delivery_state state = delivery_state::pending;
  int attempts = 0;
  time_ms created_at = 0;
  time_ms next_at = 0;  // pending: when the next attempt is due
  time_ms updated_at = 0;
  int last_status = 0;  // HTTP status or SMTP code of the last attempt
  std::string last_error;
  std::string reason;  // dead / cancelled: why
};

struct delivery_attempt {
  int n = 0;  // 1-based
  time_ms at = 0;
  std::int64_t duration_ms = 0;
  int status = 0;
  bool timed_out = false;
  bool manual = false;  // a redelivery asked through the API
  std::string error;
};

std::string encode_delivery(const delivery_row& d);
std::optional<delivery_row> decode_delivery(std::string_view json);

class delivery_store {
 public:
  explicit delivery_store(const std::string& path);  // throws std::runtime_error
  ~delivery_store();
  delivery_store(const delivery_store&) = delete;
  delivery_store& operator=(const delivery_store&) = delete;

  // The next offset of each partition of the alerts topic consumed here.
  std::map<std::int32_t, std::int64_t> offsets() const;

  // One consumed alert: its body (once), a pending delivery due at `now` for each target that has
  // none yet, and the partition's next offset, atomically. Returns the rows created.
  std::vector<delivery_row> add_alert(
      std::string_view event_id, std::string_view event_type, std::string_view body,
      const std::vector<std::pair<std::string, std::string>>& targets,  // (target, channel)
      std::int32_t partition, std::int64_t next_offset, time_ms now);

  std::optional<delivery_row> get(std::string_view target, std::string_view event_id) const;
  std::optional<std::string> body(std::string_view event_id) const;

  // Replaces the row (moving its due entry) and appends an attempt when given.
  void update(const delivery_row& before, const delivery_row& after,
              const std::optional<delivery_attempt>& attempt);

  // Pending deliveries due at or before `now`, earliest first, at most `limit`; `earliest` gets the
  // due time of the first one not due yet (if any).
  std::vector<std::pair<std::string, std::string>> due(time_ms now, std::size_t limit,
                                                       std::optional<time_ms>* earliest) const;

  // A target's deliveries, newest first, after the cursor (list_cursor of the last row of the
  // previous page; empty: from the newest), at most `limit`.
  std::vector<delivery_row> list(std::string_view target, std::string_view cursor,
                                 std::size_t limit) const;
  static std::string list_cursor(const delivery_row& d);  // "<created, 15 digits>/<event id>"
  std::vector<delivery_attempt> attempts(std::string_view target, std::string_view event_id) const;

 private:
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace tally
