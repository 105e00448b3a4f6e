// The projected state of the ledger and the pure fold `apply(state, event)`.
// The state is an in-memory cache over a `state_source` (the RocksDB store in production,
// nothing in tests): reads that miss are loaded from the source, writes are kept dirty until
// the store drains them into one WriteBatch. The fold does no I/O of its own and reads no clock:
// time comes from the event.
// Thread-safety: none; one owner thread per state.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/node_hash_map.h>

#include "projections/keys.h"
#include "schemas/events.h"
#include "schemas/text_hash.h"

namespace tally {

// do not renumber: on-disk format (index of the column family after "default").
enum class column : std::uint8_t {
  totals = 0,
  entities = 1,
  dedup = 2,
  outbox = 3,
  meta = 4,
  usage = 5,
};

// Where cache misses are read from.
class state_source {
 public:
  virtual ~state_source() = default;
  virtual std::optional<std::string> get(column cf, std::string_view key) = 0;
  // Whether each key is present, in one read where the source can batch it.
  virtual std::vector<bool> contains(column cf, const std::vector<std::string_view>& keys) {
    std::vector<bool> out;
    out.reserve(keys.size());
    for (auto k : keys) out.push_back(get(cf, k).has_value());
    return out;
  }
  // Calls f(key, value) for every row whose key starts with prefix, in key order.
  virtual void for_each(column cf, std::string_view prefix,
                        const std::function<void(std::string_view, std::string_view)>& f) const {
    (void)cf, (void)prefix, (void)f;
  }
  // Calls f(key, value) for every row in [from, to), last key first, while f returns true.
  virtual void scan_back(column cf, std::string_view from, std::string_view to,
                         const std::function<bool(std::string_view, std::string_view)>& f) const {
    (void)cf, (void)from, (void)to, (void)f;
  }
};

struct team_record {
  std::string name;
  std::string timezone = "UTC";
};
struct agent_record {
  team_id team;
  std::string name;
  std::string type;
};
struct task_record {
  std::string title;
  std::string priority;
  std::string task_type;
  std::vector<std::string> tags;
  std::optional<nanos> budget;
};
struct session_record {
  agent_id agent;
  task_id task;
  std::string model;
  std::string effort;
  session_status status = session_status::active;
  time_ms opened_at = 0;
  time_ms ended_at = 0;
  std::string reason;
};

// The latest session an agent opened: by opening time, then by session id. What a budget read
// without ?task_id= takes its task from.
struct latest_session {
  team_id team;
  session_id session;
  task_id task;
  time_ms opened_at = 0;
};
// True when (at, s) is later than the latest session l (the order of latest_session).
bool later_than(time_ms at, const session_id& s, const latest_session& l);

// How an entity event changes a session record (the fold and the live view's overlay share
// it). False when the event does not concern the session's record.
bool apply_to_session(session_record& s, bool exists, const event& e);
// How an entity event creates a task or team record.
task_record task_of(const task_created& p);

// What a decided usage event answered, kept in its dedup marker (after the day, tab-separated)
// so a retry of the request gets the same answer, and a reused key with another body is seen.
struct original_answer {
  bool recorded = true;  // UsageRecorded (else UsageRejected)
  nanos cost;
  bool over_budget = false;
  bool stop = false;
  std::string request_hash;
  std::string reason;
};
original_answer original_of(const usage_decided& u, bool rejected);
std::optional<original_answer> decode_original(std::string_view marker);

// The result of folding one event.
enum class fold_outcome { applied, duplicate };

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return text_hash(s); }
};

class ledger_state {
 public:
  explicit ledger_state(state_source* source = nullptr) : source_(source) {}

  // Totals of one key (zero when never written).
  const totals& get_totals(std::string_view key);
  void add_totals(std::string_view key, const totals& delta);

  std::optional<team_record> team(const team_id& t);
  std::optional<agent_record> agent(const agent_id& a);
  std::optional<task_record> task(const team_id& t, const task_id& k);
  std::optional<session_record> session(const team_id& t, const session_id& s);
  // Limits set by LimitsSet events: scope key 'g' | 't/' team | 'a/' agent.
  std::optional<limit_set> limits(std::string_view scope_key);
  // The same records without a copy: the decoded record the cache holds (null when absent). It
  // stays valid after the row changes or leaves the cache; it is then no longer current.
  std::shared_ptr<const team_record> team_ptr(const team_id& t);
  std::shared_ptr<const agent_record> agent_ptr(const agent_id& a);
  std::shared_ptr<const session_record> session_ptr(const team_id& t, const session_id& s);
  std::shared_ptr<const limit_set> limits_ptr(std::string_view scope_key);
  // The team of a session id (the first team that opened it: ids are meant to be org-unique).
  std::optional<team_id> session_team(const session_id& s);
  std::optional<latest_session> latest_session_of(const agent_id& a);
  // How many tasks a team has created (numbers the tasks created without a client id).
  std::int64_t task_count(const team_id& t);
  // Every entity row whose key starts with prefix, cache over store, in key order.
  void scan_entities(std::string_view prefix,
                     const std::function<void(std::string_view, std::string_view)>& f);

  // One entity row's value (absent: nullopt), cache over store.
  std::optional<std::string> entity(std::string_view key);
  // Raw entity rows: the rows derived from session and reservation events (slots.h,
  // reservations.h) are read and written through these.
  std::optional<std::string> entity_row(std::string_view key);
  void put_entity(std::string_view key, std::string value);
  // Any row, encoded as stored (for a view stacked over this state).
  std::optional<std::string> raw_row(column cf, std::string_view key);
  // Usage log rows (projections/usage_log.h) in [from, to), unwritten rows over the store, last
  // key first, while f returns true.
  void scan_usage_log(std::string_view from, std::string_view to,
                      const std::function<bool(std::string_view, std::string_view)>& f);

  bool seen(const team_id& t, const event_id& id);
  // Remember the dedup keys seen() and original() asked the source for and it lacked, so the
  // fold of that event does not ask again (the decide path looks an event up just before it is
  // appended and folded back). Only for a state whose source gains dedup markers from nothing
  // but this state's own drains (the partition owner's store): a key leaves the memory when
  // its event is folded, before its marker can reach the source.
  void remember_absent_markers() { remember_absent_ = true; }
  // With remember_absent_markers(): looks up, in one batched read of the source, the dedup keys
  // ("team/event id") of events about to be decided, and remembers those the source lacks, so
  // their seen() reads nothing more. Keys the state holds itself are left alone.
  void prefetch_markers(const std::vector<std::string>& keys);
  // The answer a folded usage event gave (from its dedup marker).
  std::optional<original_answer> original(const team_id& t, const event_id& id);

  // The fold. Duplicates (same team and event id) change nothing but are reported.
  fold_outcome apply(const event& e);

  // Offsets kept with the state (meta column): next ledger offset per partition, and the last
  // report offset whose decision has been folded.
  std::optional<std::int64_t> meta_i64(std::string_view key);
  void set_meta_i64(std::string_view key, std::int64_t v);
  void add_meta_i64(std::string_view key, std::int64_t delta);
  // The report at `offset` of reports partition p is done: its offset moves on ("reports/<p>").
  void report_done(std::int32_t partition, std::int64_t offset);
  // The dedup key of an event ("team/event id"): its marker's key.
  static std::string dedup_key(std::string_view team, std::string_view id);

  // Changes since the last drain, in key order per column (deterministic batches).
  struct change {
    column cf;
    std::string key;
    std::string value;
  };
  std::vector<change> drain();
  std::size_t dirty_count() const;
  // A drained batch on its way to the store: what drain() returns, as one shared object, which
  // the state keeps as its in-flight batch until retire_in_flight(). Its rows stay readable
  // meanwhile: the cache keeps the rows it drained (clean), the usage log scans the batch's usage
  // rows and the dedup markers are found through marker_at. The rows of which there is one per
  // event (the dedup markers and the usage log) are moved in as the fold left them, unsorted:
  // draining is a move under the owner's lock, and the store writer puts them in key order
  // (in_key_order) while the batch waits for its acks.
  struct batch {
    std::vector<change> changes;  // the other rows, in key order per column
    std::deque<std::pair<std::string, std::string>> markers;  // dedup column: key, value
    std::vector<std::pair<std::string, std::string>> usage;   // usage log rows: key, value
    // The dedup markers' keys (views into markers) -> index: the new events of a decision are
    // looked up here, and a hash probe costs less than a search of a few thousand keys.
    absl::flat_hash_map<std::string_view, std::size_t, string_hash, std::equal_to<>> marker_at;
    bool has_outbox = false;  // some change is in the outbox column

    // Every row, in the order drain() gives them (column by column, each column's rows in key
    // order): f(column, key, value). Reads the batch only.
    void in_key_order(
        const std::function<void(column, std::string_view, std::string_view)>& f) const;
  };
  std::shared_ptr<const batch> drain_batch();

  // The in-flight batch is in the store now (or given up): forget it.
  void retire_in_flight() { in_flight_.reset(); }

  // Drops cached rows that have no pending change, to bound memory.
  void evict_clean();
  // Drops every clean row when more than max_cached rows are cached: the hot totals and
  // entities stay cached between flushes.
  void evict_clean_over(std::size_t max_cached);
  std::size_t cached_count() const;

 private:
  struct totals_entry {
    totals value;
    bool dirty = false;
  };
  struct row {
    std::string value;  // encoded
    bool present = false;
    bool dirty = false;
    std::int8_t parsed = -1;  // entities: value is a JSON object (1), is not (0), unknown (-1)
    // The record decoded from value (team_record, session_record, ...), kept until value
    // changes: hot reads (every budget check, every usage report) parse each row once.
    std::shared_ptr<const void> decoded;
  };
  // The drain: the rows of `changes` collected and encoded, the per-event rows moved out.
  batch take_drained();
  // The record of an entity row, decoded by decode(value) on first use; nullopt when absent or
  // undecodable.
  template <class T, class Decode>
  std::optional<T> cached_record(std::string_view key, Decode decode);
  template <class T, class Decode>
  std::shared_ptr<const T> cached_ptr(std::string_view key, Decode decode);
  // kind + a [+ '/' + b] in key_ (an entity row's key, built without an allocation).
  std::string_view entity_key(std::string_view kind, std::string_view a, std::string_view b = {});
  // Node maps: row_sets_ keeps pointers to totals rows, and callers hold row references while
  // other rows are loaded.
  using totals_map = absl::node_hash_map<std::string, totals_entry, string_hash, std::equal_to<>>;
  using row_map = absl::node_hash_map<std::string, row, string_hash, std::equal_to<>>;
  static constexpr int column_count = 5;  // the columns of rows_ (usage rows are apart)

  totals_map::value_type& load_totals_row(std::string_view key);
  totals_entry& load_totals(std::string_view key) { return load_totals_row(key).second; }
  void add_to(totals_map::value_type& row, const totals& delta);
  row& load(column cf, std::string_view key);
  void put(column cf, std::string_view key, std::string value);
  bool entity_exists(std::string_view key);
  // A dedup marker's value: unwritten, in flight, or in the store. remember: note a key the
  // store lacks (remember_absent_markers()).
  std::optional<std::string> marker(std::string_view key, bool remember = false);
  // The marker of the drained batch being written, if it holds the key.
  const std::string* in_flight_marker(std::string_view key) const;
  void index_session(const team_id& t, const session_id& s);
  void note_latest(const team_id& t, const agent_id& a, const session_id& s, const task_id& k,
                   time_ms opened_at);
  // The fold of the alert events (projections/alert_fold.cc): feed, alert state, outbox.
  void apply_alert(const event& e);

  state_source* source_;
  totals_map totals_;
  std::vector<std::string> dirty_totals_;
  row_map rows_[column_count];
  std::vector<std::string> dirty_rows_[column_count];
  // Usage log rows not yet drained: written once, never read back by key, so no cache entry.
  std::vector<std::pair<std::string, std::string>> usage_rows_;
  std::shared_ptr<const batch> in_flight_;  // drained, maybe not yet in the store
  // Dedup markers not yet drained, apart from the row cache: one is written per event and read
  // back only for a duplicate or a retry (then from the store). The deque keeps the strings in
  // place, so the index may point into them.
  std::deque<std::pair<std::string, std::string>> markers_;
  absl::flat_hash_map<std::string_view, std::size_t, string_hash, std::equal_to<>> marker_index_;
  // Without a source nothing could answer for drained markers: they are kept here.
  absl::flat_hash_map<std::string, std::string, string_hash, std::equal_to<>> drained_markers_;
  // Dedup keys the source lacked when seen() or original() asked (remember_absent_markers()).
  static constexpr std::size_t max_absent_markers = 200'000;  // then it starts over
  bool remember_absent_ = false;
  absl::flat_hash_set<std::string, string_hash, std::equal_to<>> absent_markers_;
  std::string scratch_;   // key buffer of the fold
  std::string key_;       // key buffer of the record lookups (entity_key)
  std::string seen_key_;  // key buffer of seen()
  // The org, team, agent, model and effort rows a usage event touches, by the event's
  // dimensions: one lookup instead of twelve. Points into totals_ (node pointers are stable);
  // cleared whenever rows leave totals_.
  absl::flat_hash_map<std::string, std::vector<totals_map::value_type*>, string_hash,
                      std::equal_to<>>
      row_sets_;
  std::string signature_;
};

// Calls f(key, delta) for every totals row a decided usage event changes.
void for_each_total(const usage_decided& u, bool rejected,
                    const std::function<void(const std::string&, const totals&)>& f);

// The scope prefixes used in totals keys.
std::string scope_team(const team_id& t);
std::string scope_agent(const team_id& t, const agent_id& a);
std::string scope_task(const team_id& t, const task_id& k);
std::string scope_session(const team_id& t, const session_id& s);

}  // namespace tally
