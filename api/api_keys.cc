#include "api/api_keys.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "api/base64url.h"
#include "schemas/events.h"

namespace tally::api {

namespace {

constexpr std::string_view secret_prefix = "tly_";
constexpr std::size_t secret_bytes = 32;
constexpr std::size_t id_hex_digits = 12;

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string generate_key_secret() {
  unsigned char bytes[secret_bytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("RAND_bytes failed: cannot generate an API key secret");
  }
  std::string secret(secret_prefix);
  secret += base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  OPENSSL_cleanse(bytes, sizeof bytes);
  return secret;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string key_id_for(std::string_view secret) {
  return "key_" + sha256_hex(secret, id_hex_digits);
}

api_key_record make_key_record(std::string_view secret, role who, std::string team,
                               std::string name, std::int64_t created_at_ms) {
  api_key_record r;
  r.hash_hex = sha256_hex(secret);
  r.id = "key_" + r.hash_hex.substr(0, id_hex_digits);
  r.who = who;
  r.team = std::move(team);
  r.name = std::move(name);
  r.created_at_ms = created_at_ms;
  return r;
}

std::optional<std::string> key_record_problem(const api_key_record& r) {
  if (!valid_id(r.id)) return "the key id is missing or malformed";
  if (!is_sha256_hex(r.hash_hex)) return "the key hash is not 64 lowercase hex digits";
  if (r.who == role::none) return "the key has no role";
  if (r.team.empty() && r.who != role::admin) {
    return std::string(to_string(r.who)) + " keys need a team (only admin keys are org-wide)";
  }
  if (!r.team.empty() && !valid_id(r.team)) return "the team id is malformed";
  return std::nullopt;
}

std::string encode_key_record(const api_key_record& r) {
  boost::json::object o;
  o["id"] = r.id;
  o["sha256"] = r.hash_hex;
  o["role"] = to_string(r.who);
  o["team"] = r.team;
  o["name"] = r.name;
  o["created_at_ms"] = r.created_at_ms;
  o["revoked"] = r.revoked;
  return boost::json::serialize(o);
}

boost::system::result<api_key_record> decode_key_record(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec) return decode_errc::malformed_json;
  const boost::json::object* o = v.if_object();
  if (!o) return decode_errc::bad_field;

  auto text = [&](std::string_view name, bool required) -> std::optional<std::string> {
    const boost::json::value* f = o->if_contains(name);
    if (!f) return required ? std::nullopt : std::optional<std::string>(std::string());
    if (!f->is_string()) return std::nullopt;
    return std::string(f->get_string());
  };

  api_key_record r;
  auto id = text("id", true);
  auto hash = text("sha256", true);
  auto role_name = text("role", true);
  auto team = text("team", false);
  auto name = text("name", false);
  if (!id || !hash || !role_name || !team || !name) return decode_errc::bad_field;
  std::optional<role> who = role_from_string(*role_name);
  if (!who) return decode_errc::bad_field;
  r.id = std::move(*id);
  r.hash_hex = std::move(*hash);
  r.who = *who;
  r.team = std::move(*team);
  r.name = std::move(*name);

  const boost::json::value* created = o->if_contains("created_at_ms");
  if (!created || !created->is_int64()) return decode_errc::bad_field;
  r.created_at_ms = created->get_int64();
  if (const boost::json::value* revoked = o->if_contains("revoked")) {
    if (!revoked->is_bool()) return decode_errc::bad_field;
    r.revoked = revoked->get_bool();
  }
  if (key_record_problem(r)) return decode_errc::bad_field;
  return r;
}

bool key_registry::apply(const api_key_record& r) {
  if (key_record_problem(r)) return false;
  std::unique_lock lock(mu_);
  auto it = by_id_.find(r.id);
  if (it == by_id_.end()) {
    id_by_hash_[r.hash_hex] = r.id;
    by_id_.emplace(r.id, r);
    return true;
  }
  api_key_record& old = it->second;
  bool was_revoked = old.revoked;
  if (old.hash_hex != r.hash_hex) {
    auto h = id_by_hash_.find(old.hash_hex);
    if (h != id_by_hash_.end() && h->second == old.id) id_by_hash_.erase(h);
    id_by_hash_[r.hash_hex] = r.id;
  }
  old = r;
  old.revoked = old.revoked || was_revoked;
  return true;
}

std::optional<principal> key_registry::authenticate(std::string_view secret) const {
  // Secrets are 47 characters; anything far longer is not worth hashing.
  if (secret.empty() || secret.size() > 256) return std::nullopt;
  const std::string presented = sha256_hex(secret);
  std::shared_lock lock(mu_);
  // The table is indexed by the hash of the presented secret, which tells an attacker nothing
  // about stored secrets; the final equality is still checked in constant time.
  auto h = id_by_hash_.find(presented);
  if (h == id_by_hash_.end()) return std::nullopt;
  auto it = by_id_.find(h->second);
  if (it == by_id_.end()) return std::nullopt;
  const api_key_record& r = it->second;
  if (!constant_time_equal(r.hash_hex, presented) || r.revoked) return std::nullopt;
  return principal{r.who, r.team, r.id};
}

std::vector<api_key_record> key_registry::list(std::optional<std::string> team) const {
  std::vector<api_key_record> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, r] : by_id_) {
      if (!team || r.team == *team) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), [](const api_key_record& a, const api_key_record& b) {
    return a.created_at_ms != b.created_at_ms ? a.created_at_ms < b.created_at_ms : a.id < b.id;
  });
  return out;
}

std::optional<api_key_record> key_registry::get(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

}  // namespace tally::api
