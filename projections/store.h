// The RocksDB adapter of the projections: opens the column families of projections/keys.h,
// answers the state's cache misses and writes a drained set of changes as ONE WriteBatch, so
// the state change, the dedup markers, the outbox and the consumed offsets land together.
// Thread-safety: get/write/for_each may be called from any thread (RocksDB's own guarantees);
// wipe() needs exclusive use.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>

#include "projections/ledger_state.h"

namespace tally {

struct store_options {
  std::string path;          // directory of the database; created when missing
  bool sync_writes = false;  // fsync each batch; a killed process loses nothing either way
                             // (the WAL is in the page cache); set for power-loss durability
  bool read_only = false;    // open beside a running owner (inspect); writes are refused
};

class ledger_store final : public state_source {
 public:
  // Opens or creates the store; throws std::runtime_error when RocksDB refuses (cannot continue).
  explicit ledger_store(store_options options);
  ~ledger_store() override;
  ledger_store(const ledger_store&) = delete;
  ledger_store& operator=(const ledger_store&) = delete;

  std::optional<std::string> get(column cf, std::string_view key) override;
  // One MultiGet: batched bloom probes and block reads over the keys.
  std::vector<bool> contains(column cf, const std::vector<std::string_view>& keys) override;

  // Writes the changes atomically.
  rocksdb::Status write(const std::vector<ledger_state::change>& changes);
  // Writes a drained batch atomically, its rows in key order. before_commit runs once the
  // WriteBatch is built, before it is written; it may block, and its exception leaves the store
  // unchanged.
  rocksdb::Status write(const ledger_state::batch& b, const std::function<void()>& before_commit);

  // Deletes rows of one column family atomically (the outbox publisher clears what Kafka
  // acknowledged; nothing the fold reads).
  rocksdb::Status erase(column cf, const std::vector<std::string>& keys);

  // Calls f(key, value) for every row of a column family whose key starts with prefix, in key
  // order.
  void for_each(column cf, std::string_view prefix,
                const std::function<void(std::string_view, std::string_view)>& f) const override;
  // Rows in [from, to), last key first, while f returns true.
  void scan_back(column cf, std::string_view from, std::string_view to,
                 const std::function<bool(std::string_view, std::string_view)>& f) const override;

  // Deletes every row of every column family (used by `tally replay`).
  void wipe();

  const std::string& path() const { return options_.path; }

 private:
  void open();
  void close();

  store_options options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // [0] default, then by `column` + 1
};

// The names of the column families, by `column`.
std::string_view column_name(column cf);

}  // namespace tally
