// JWT bearer tokens: issued by POST /api/v1/auth/token in exchange for an API key, verified
// on every request that carries `Authorization: Bearer`. The algorithm is pinned by the
// configured key kind (HS256 with the shared secret, RS256 with the RSA public key); the
// header is read and checked here before libjwt checks the signature, and the claims are
// read here with exact types. Thread-safety: jwt_verifier is immutable after construction
// and may be shared by any number of threads; the free functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.h"

namespace tally::api {

struct jwt_config {
  std::string issuer = "tally";        // `iss` issued and required
  std::string audience = "tally-api";  // `aud` issued and required (a string, or in an array)
  std::string hs256_secret;            // HS256 shared secret, at least 32 bytes; empty: no HS256
  std::string rs256_public_pem;        // RS256 verification key (PEM); empty: derived from private
  std::string rs256_private_pem;       // RS256 signing key (PEM); only needed to issue RS256
  std::int64_t ttl_seconds = 900;      // lifetime of issued tokens
  std::int64_t leeway_seconds = 30;    // clock skew allowed on exp / nbf / iat
};

// What a verified token says: the principal, and the subject to rate-limit by.
struct jwt_claims {
  principal who;        // who.key_id: the `key_id` claim, empty when absent
  std::string subject;  // the `sub` claim, empty when absent (then key_id is set)
  std::int64_t expires_at_s = 0;
};

class jwt_verifier {
 public:
  // Throws std::invalid_argument when a configured key is unusable (HS secret shorter than 32
  // bytes, a PEM that is not an RSA key), so a bad deployment fails at start. With no key at
  // all every token is refused.
  explicit jwt_verifier(jwt_config config);

  // The principal of a valid token, or nullopt with the reason in *why (when why is given).
  // Refused: any alg other than the configured ones (none included), a bad signature, a
  // missing or past `exp`, a future `nbf` or `iat`, `iss` / `aud` other than configured, a
  // missing or unknown `role`, no team on a non-admin, neither `sub` nor `key_id`.
  std::optional<principal> verify(std::string_view token, std::int64_t now_s,
                                  std::string* why = nullptr) const;
  std::optional<jwt_claims> verify_claims(std::string_view token, std::int64_t now_s,
                                          std::string* why = nullptr) const;

  const jwt_config& config() const { return config_; }

 private:
  jwt_config config_;
};

// A token for `who`: iss, aud, sub (= key_id), key_id, role, team (omitted when org-wide),
// iat = now_s, exp = now_s + ttl. Throws std::invalid_argument when the needed key is not
// configured, std::runtime_error when libjwt fails.
std::string issue_hs256(const jwt_config& config, const principal& who, std::int64_t now_s);
std::string issue_rs256(const jwt_config& config, const principal& who, std::int64_t now_s);

// HS256 when a shared secret is configured, else RS256 when a private key is.
std::string issue_token(const jwt_config& config, const principal& who, std::int64_t now_s);

}  // namespace tally::api
