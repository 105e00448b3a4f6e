#include "consumers/delivery_store.h"

#include <cstdio>
#include <stdexcept>

#include <rocksdb/write_batch.h>

#include <boost/json.hpp>
#include "schemas/json_fields.h"

namespace tally {
namespace json = boost::json;
namespace {

std::string digits(std::int64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(v < 0 ? 0 : v));
  return buf;
}

std::string row_key(std::string_view target, std::string_view id) {
  std::string k = "d/";
  k.append(target).push_back('/');
  k.append(id);
  return k;
}

std::string due_key(const delivery_row& d) {
  return "q/" + digits(d.next_at, 15) + "/" + d.target + "/" + d.event_id;
}

std::string list_key(const delivery_row& d) {
  return "l/" + d.target + "/" + digits(d.created_at, 15) + "/" + d.event_id;
}

std::string attempt_key(std::string_view target, std::string_view id, int n) {
  std::string k = "a/";
  k.append(target).push_back('/');
  k.append(id).push_back('/');
  k += digits(n, 4);
  return k;
}

delivery_state state_of(std::string_view s) {
  if (s == "delivered") return delivery_state::delivered;
  if (s == "dead") return delivery_state::dead;
  if (s == "cancelled") return delivery_state::cancelled;
  return delivery_state::pending;
}

std::string encode_attempt(const delivery_attempt& a) {
  json::object o;
  o["n"] = a.n;
  o["at"] = a.at;
  o["duration_ms"] = a.duration_ms;
  o["status"] = a.status;
  o["timed_out"] = a.timed_out;
  o["manual"] = a.manual;
  o["error"] = a.error;
  return json::serialize(o);
}

std::optional<delivery_attempt> decode_attempt(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.get_object();
  delivery_attempt a;
  a.n = static_cast<int>(int64_field(o, "n"));
  a.at = int64_field(o, "at");
  a.duration_ms = int64_field(o, "duration_ms");
  a.status = static_cast<int>(int64_field(o, "status"));
  a.timed_out = bool_field(o, "timed_out", false);
  a.manual = bool_field(o, "manual", false);
  a.error = string_field(o, "error");
  return a;
}

void check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) throw std::runtime_error(std::string("deliveries: ") + what + ": " + s.ToString());
}

}  // namespace

std::string_view to_string(delivery_state s) {
  switch (s) {
    case delivery_state::pending:
      return "pending";
    case delivery_state::delivered:
      return "delivered";
    case delivery_state::dead:
      return "dead";
    case delivery_state::cancelled:
      return "cancelled";
  }
  return "pending";
}

std::string encode_delivery(const delivery_row& d) {
  json::object o;
  o["target"] = d.target;
  o["event_id"] = d.event_id;
  o["channel"] = d.channel;
  o["event_type"] = d.event_type;
  o["state"] = to_string(d.state);
  o["attempts"] = d.attempts;
  o["created_at"] = d.created_at;
  o["next_at"] = d.next_at;
  o["updated_at"] = d.updated_at;
  o["last_status"] = d.last_status;
  o["last_error"] = d.last_error;
  o["reason"] = d.reason;
  return json::serialize(o);
}

std::optional<delivery_row> decode_delivery(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.get_object();
  delivery_row d;
  d.target = string_field(o, "target");
  d.event_id = string_field(o, "event_id");
  d.channel = string_field(o, "channel");
  d.event_type = string_field(o, "event_type");
  d.state = state_of(string_field(o, "state"));
  d.attempts = static_cast<int>(int64_field(o, "attempts"));
  d.created_at = int64_field(o, "created_at");
  d.next_at = int64_field(o, "next_at");
  d.updated_at = int64_field(o, "updated_at");
  d.last_status = static_cast<int>(int64_field(o, "last_status"));
  d.last_error = string_field(o, "last_error");
  d.reason = string_field(o, "reason");
  if (d.target.empty() || d.event_id.empty()) return std::nullopt;
  return d;
}

delivery_store::delivery_store(const std::string& path) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  rocksdb::DB* db = nullptr;
  check(rocksdb::DB::Open(o, path, &db), "open");
  db_.reset(db);
}

delivery_store::~delivery_store() = default;

std::map<std::int32_t, std::int64_t> delivery_store::offsets() const {
  std::map<std::int32_t, std::int64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next()) {
    auto k = it->key().ToString().substr(2);
    out[std::stoi(k)] = std::stoll(it->value().ToString());
  }
  return out;
}

std::vector<delivery_row> delivery_store::add_alert(
    std::string_view event_id, std::string_view event_type, std::string_view body,
    const std::vector<std::pair<std::string, std::string>>& targets, std::int32_t partition,
    std::int64_t next_offset, time_ms now) {
  rocksdb::WriteBatch b;
  std::vector<delivery_row> created;
  bool any = false;
  for (auto& [target, channel] : targets) {
    if (get(target, event_id)) continue;  // read again after a crash or a rebalance
    delivery_row d;
    d.target = target;
    d.event_id = std::string(event_id);
    d.channel = channel;
    d.event_type = std::string(event_type);
    d.created_at = d.next_at = d.updated_at = now;
    b.Put(row_key(target, event_id), encode_delivery(d));
    b.Put(due_key(d), "");
    b.Put(list_key(d), "");
    created.push_back(std::move(d));
    any = true;
  }
  if (any) b.Put("e/" + std::string(event_id), rocksdb::Slice(body.data(), body.size()));
  if (partition >= 0) b.Put("o/" + std::to_string(partition), std::to_string(next_offset));
  check(db_->Write(rocksdb::WriteOptions(), &b), "write");
  return created;
}

std::optional<delivery_row> delivery_store::get(std::string_view target,
                                                std::string_view event_id) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), row_key(target, event_id), &v).ok()) return std::nullopt;
  return decode_delivery(v);
}

std::optional<std::string> delivery_store::body(std::string_view event_id) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), "e/" + std::string(event_id), &v).ok()) return std::nullopt;
  return v;
}

void delivery_store::update(const delivery_row& before, const delivery_row& after,
                            const std::optional<delivery_attempt>& attempt) {
  rocksdb::WriteBatch b;
  if (before.state == delivery_state::pending) b.Delete(due_key(before));
  if (after.state == delivery_state::pending) b.Put(due_key(after), "");
  b.Put(row_key(after.target, after.event_id), encode_delivery(after));
  if (attempt) {
    b.Put(attempt_key(after.target, after.event_id, attempt->n), encode_attempt(*attempt));
  }
  check(db_->Write(rocksdb::WriteOptions(), &b), "write");
}

std::vector<std::pair<std::string, std::string>> delivery_store::due(
    time_ms now, std::size_t limit, std::optional<time_ms>* earliest) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (earliest) earliest->reset();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("q/"); it->Valid() && it->key().starts_with("q/"); it->Next()) {
    auto k = it->key().ToString();  // q/<15 digits>/<target>/<event id>
    const time_ms at = std::stoll(k.substr(2, 15));
    if (at > now) {
      if (earliest) *earliest = at;
      break;
    }
    if (out.size() >= limit) break;
    auto rest = k.substr(18);
    auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    out.emplace_back(rest.substr(0, slash), rest.substr(slash + 1));
  }
  return out;
}

std::string delivery_store::list_cursor(const delivery_row& d) {
  return digits(d.created_at, 15) + "/" + d.event_id;
}

std::vector<delivery_row> delivery_store::list(std::string_view target, std::string_view cursor,
                                               std::size_t limit) const {
  std::vector<delivery_row> out;
  const std::string prefix = "l/" + std::string(target) + "/";
  const std::string upper =
      cursor.empty() ? prefix + std::string(1, '\xff') : prefix + std::string(cursor);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(upper); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Prev()) {
    auto k = it->key().ToString();
    if (k == upper) continue;
    auto id = k.substr(prefix.size() + 16);
    if (auto d = get(target, id)) out.push_back(std::move(*d));
  }
  return out;
}

std::vector<delivery_attempt> delivery_store::attempts(std::string_view target,
                                                       std::string_view event_id) const {
  std::vector<delivery_attempt> out;
  std::string prefix = "a/";
  prefix.append(target).push_back('/');
  prefix.append(event_id).push_back('/');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (auto a = decode_attempt(it->value().ToString())) out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace tally
