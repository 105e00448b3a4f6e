#include "projections/store.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "projections/usage_blocks.h"

namespace tally {
namespace {

// The memtable keeps an insert hint per team for the usage log and the dedup markers, whose keys
// start with the team and '/'. The usage log's keys grow within each team (team '/' time '/'
// id), so appending a block (usage_blocks.h) does not search the skiplist from the top; a drained
// batch puts its dedup markers in key order, so each insert searches on from the one before (a
// short way even for random ids) rather than down the whole skiplist (key comparisons there were
// the store writer's largest item).
class team_prefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "tally.team_prefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const auto k = key.ToStringView();
    return rocksdb::Slice(key.data(), k.find('/'));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.ToStringView().find('/') != std::string_view::npos;
  }
};

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// The usage log's rows go into a WriteBatch as blocks (usage_blocks.h).
usage_block_builder usage_blocks_into(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* cf) {
  return usage_block_builder(
      [&batch, cf](std::string_view k, std::string_view v) { batch.Put(cf, slice(k), slice(v)); });
}

constexpr column all_columns[] = {column::totals, column::entities, column::dedup,
                                  column::outbox, column::meta,     column::usage};

}  // namespace

std::string_view column_name(column cf) {
  switch (cf) {
    case column::totals:
      return "totals";
    case column::entities:
      return "entities";
    case column::dedup:
      return "dedup";
    case column::outbox:
      return "outbox";
    case column::meta:
      return "meta";
    case column::usage:
      return "usage";
  }
  return "?";
}

ledger_store::ledger_store(store_options options) : options_(std::move(options)) {
  open();
}

ledger_store::~ledger_store() {
  close();
}

void ledger_store::open() {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Under sustained ingest compaction is the store's largest cost, and most of it was snappy
  // compressing the same young rows level after level. Levels 0 and 1 (a small share of the
  // data, rewritten most often) stay uncompressed; the deeper ones use lz4, cheaper than snappy
  // at about its ratio. Files keep the compression they were written with.
  cf_options.compression_per_level.assign(static_cast<std::size_t>(cf_options.num_levels),
                                          rocksdb::kLZ4Compression);
  cf_options.compression_per_level[0] = rocksdb::kNoCompression;
  cf_options.compression_per_level[1] = rocksdb::kNoCompression;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (auto c : all_columns) {
    cfs.emplace_back(std::string(column_name(c)), cf_options);
    if (c == column::dedup || c == column::entities) {
      // The fold looks up one new dedup key per event (and an entity row for each new session
      // or agent), nearly always absent: a whole-key bloom filter on the memtables answers
      // those misses without a skiplist search. The other columns are read by key only when a
      // row leaves the cache, or by range: their inserts skip the filter's cost.
      cfs.back().options.memtable_whole_key_filtering = true;
      cfs.back().options.memtable_prefix_bloom_size_ratio = 0.05;
    }
    if (c == column::usage || c == column::dedup) {
      cfs.back().options.memtable_insert_with_hint_prefix_extractor =
          std::make_shared<team_prefix>();
    }
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (options_.read_only) {
    // Beside a live owner a compaction may delete a file between listing and opening it:
    // that open is retried (the next listing no longer names the file).
    for (int attempt = 0; attempt < 20; ++attempt) {
      s = rocksdb::DB::OpenForReadOnly(db_options, options_.path, cfs, &handles_, &db);
      if (s.ok() || !(s.IsCorruption() || s.IsIOError() || s.IsPathNotFound())) break;
      handles_.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * (attempt + 1)));
    }
  } else {
    s = rocksdb::DB::Open(db_options, options_.path, cfs, &handles_, &db);
  }
  if (!s.ok()) throw std::runtime_error("cannot open store " + options_.path + ": " + s.ToString());
  db_.reset(db);
}

void ledger_store::close() {
  for (auto* h : handles_) {
    if (h) db_->DestroyColumnFamilyHandle(h);
  }
  handles_.clear();
  db_.reset();
}

std::optional<std::string> ledger_store::get(column cf, std::string_view key) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), handles_[static_cast<int>(cf) + 1],
                    rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) throw std::runtime_error("store read failed: " + s.ToString());
  return value;
}

std::vector<bool> ledger_store::contains(column cf, const std::vector<std::string_view>& keys) {
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (auto k : keys) slices.emplace_back(k.data(), k.size());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  // Keys given in order spare MultiGet its own sort (through the comparator's virtual calls).
  const bool sorted = std::is_sorted(keys.begin(), keys.end());
  db_->MultiGet(rocksdb::ReadOptions(), handles_[static_cast<int>(cf) + 1], slices.size(),
                slices.data(), values.data(), statuses.data(), sorted);
  std::vector<bool> out(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!statuses[i].ok() && !statuses[i].IsNotFound()) {
      throw std::runtime_error("store read failed: " + statuses[i].ToString());
    }
    out[i] = statuses[i].ok();
  }
  return out;
}

rocksdb::Status ledger_store::write(const std::vector<ledger_state::change>& changes) {
  std::size_t bytes = 64;
  for (auto& c : changes) bytes += c.key.size() + c.value.size() + 16;
  rocksdb::WriteBatch batch(bytes);  // one allocation for the whole batch
  std::vector<const ledger_state::change*> usage;
  for (auto& c : changes) {
    if (c.cf == column::usage) {
      usage.push_back(&c);
    } else {
      batch.Put(handles_[static_cast<int>(c.cf) + 1], c.key, c.value);
    }
  }
  // In key order, a key given twice in the order given (the builder keeps its later value, as the
  // WriteBatch of puts did).
  std::stable_sort(usage.begin(), usage.end(), [](auto* a, auto* b) { return a->key < b->key; });
  auto blocks = usage_blocks_into(batch, handles_[static_cast<int>(column::usage) + 1]);
  for (auto* c : usage) blocks.add(c->key, c->value);
  blocks.finish();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return db_->Write(wo, &batch);
}

rocksdb::Status ledger_store::write(const ledger_state::batch& b,
                                    const std::function<void()>& before_commit) {
  std::size_t bytes = 64;
  for (auto& c : b.changes) bytes += c.key.size() + c.value.size() + 16;
  for (auto& [k, v] : b.markers) bytes += k.size() + v.size() + 16;
  for (auto& [k, v] : b.usage) bytes += k.size() + v.size() + 16;
  rocksdb::WriteBatch batch(bytes);
  // The usage log's rows are cut into blocks, in the key order they come in.
  auto blocks = usage_blocks_into(batch, handles_[static_cast<int>(column::usage) + 1]);
  b.in_key_order([&](column cf, std::string_view k, std::string_view v) {
    if (cf == column::usage) return blocks.add(k, v);
    batch.Put(handles_[static_cast<int>(cf) + 1], slice(k), slice(v));
  });
  blocks.finish();
  if (before_commit) before_commit();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return db_->Write(wo, &batch);
}

rocksdb::Status ledger_store::erase(column cf, const std::vector<std::string>& keys) {
  rocksdb::WriteBatch batch;
  for (auto& k : keys) batch.Delete(handles_[static_cast<int>(cf) + 1], k);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return db_->Write(wo, &batch);
}

void ledger_store::for_each(
    column cf, std::string_view prefix,
    const std::function<void(std::string_view, std::string_view)>& f) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<int>(cf) + 1]));
  rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    f(it->key().ToStringView(), it->value().ToStringView());
  }
}

void ledger_store::scan_back(
    column cf, std::string_view from, std::string_view to,
    const std::function<bool(std::string_view, std::string_view)>& f) const {
  rocksdb::ReadOptions ro;
  rocksdb::Slice lower(from.data(), from.size()), upper(to.data(), to.size());
  ro.iterate_lower_bound = &lower;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[static_cast<int>(cf) + 1]));
  it->SeekForPrev(upper);
  if (it->Valid() && it->key().compare(upper) >= 0) it->Prev();
  for (; it->Valid() && it->key().compare(lower) >= 0; it->Prev()) {
    if (!f(it->key().ToStringView(), it->value().ToStringView())) break;
  }
}

void ledger_store::wipe() {
  for (auto c : all_columns) {
    auto*& h = handles_[static_cast<int>(c) + 1];
    auto s = db_->DropColumnFamily(h);
    if (!s.ok()) throw std::runtime_error("wipe failed: " + s.ToString());
    db_->DestroyColumnFamilyHandle(h);
    h = nullptr;
  }
  close();
  open();
}

}  // namespace tally
