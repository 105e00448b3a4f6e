// API keys: secrets ("tly_" + 43 base64url characters of 32 random bytes) are shown once
// at creation and stored only as their SHA-256; a record names the key's role and team and
// travels on the control topic as JSON (encode_key_record). The registry is the applied
// state of those records and answers "whose key is this secret?".
// Thread-safety: free functions are pure (generate_key_secret draws from OpenSSL's CSPRNG);
// key_registry is safe to use from any number of threads (readers share a lock).
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/system/result.hpp>

#include "api/http_types.h"
#include "api/roles.h"
#include "schemas/sha256.h"

namespace tally::api {

struct api_key_record {
  std::string id;        // public id, "key_" + 12 hex digits of the secret's SHA-256
  std::string hash_hex;  // SHA-256 of the secret, 64 lowercase hex digits
  role who = role::none;
  std::string team;  // empty: the whole org (admin keys only); agent/reader keys need a team
  std::string name;  // a label for people; not unique
  std::int64_t created_at_ms = 0;
  bool revoked = false;

  friend bool operator==(const api_key_record&, const api_key_record&) = default;
};

// A new secret: "tly_" + base64url (no padding) of 32 bytes from RAND_bytes. Throws
// std::runtime_error if the CSPRNG fails (the process cannot issue keys safely).
std::string generate_key_secret();

// Equality of two hashes in time that depends only on their length (CRYPTO_memcmp), so a
// comparison does not reveal how many leading characters matched.
bool constant_time_equal(std::string_view a, std::string_view b);

// The public id of a secret: "key_" + the first 12 hex digits of its SHA-256.
std::string key_id_for(std::string_view secret);

// The record of a new key for `secret`; it is not checked (see key_record_problem).
api_key_record make_key_record(std::string_view secret, role who, std::string team,
                               std::string name, std::int64_t created_at_ms);

// Why a record may not be applied ("agent keys need a team", ...); nullopt when it is valid.
std::optional<std::string> key_record_problem(const api_key_record& r);

// Control-topic JSON: {"id","sha256","role","team","name","created_at_ms","revoked"}. Never
// holds the secret. Decoding ignores unknown fields (newer writers) and refuses invalid
// records (decode_errc::malformed_json / bad_field).
std::string encode_key_record(const api_key_record& r);
boost::system::result<api_key_record> decode_key_record(std::string_view json);

class key_registry {
 public:
  // Inserts or replaces the record with r.id; applying the same record again changes nothing.
  // Revocation is final: a later record of a revoked id stays revoked (a replay or a stale
  // writer cannot bring a key back). Returns false, changing nothing, for an invalid record.
  bool apply(const api_key_record& r);

  // The principal of a presented secret; nullopt when unknown or revoked.
  std::optional<principal> authenticate(std::string_view secret) const;

  // Records of one team (nullopt: all), revoked ones included, ordered by creation then id.
  std::vector<api_key_record> list(std::optional<std::string> team = std::nullopt) const;

  std::optional<api_key_record> get(std::string_view id) const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, api_key_record> by_id_;
  std::unordered_map<std::string, std::string> id_by_hash_;
};

}  // namespace tally::api
