#include "api/jwt_auth.h"

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <utility>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "api/base64url.h"
#include "api/roles.h"
#include "schemas/events.h"

namespace tally::api {

namespace {

// Far above any token Tally issues (~400 bytes) and below the header size limit.
constexpr std::size_t max_token_bytes = 8192;
constexpr std::size_t min_hs256_secret_bytes = 32;  // RFC 7518 3.2: at least the hash size
constexpr int min_rsa_bits = 2048;

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;
struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

bio_ptr read_bio(const std::string& pem) {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

void require_rsa(const EVP_PKEY* key, const char* what) {
  if (!key) throw std::invalid_argument(std::string(what) + " is not a PEM key OpenSSL can read");
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    throw std::invalid_argument(std::string(what) + " is not an RSA key");
  }
  if (EVP_PKEY_get_bits(key) < min_rsa_bits) {
    throw std::invalid_argument(std::string(what) + " is shorter than 2048 bits");
  }
}

// The SubjectPublicKeyInfo PEM of an RSA private key, so a node that issues RS256 tokens
// can verify them without a second key setting.
std::string public_pem_of(const std::string& private_pem) {
  bio_ptr in = read_bio(private_pem);
  pkey_ptr key(in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr);
  require_rsa(key.get(), "rs256_private_pem");
  bio_ptr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    throw std::runtime_error("cannot write the RS256 public key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::optional<boost::json::object> decode_json_segment(std::string_view b64) {
  std::optional<std::string> bytes = base64url_decode(b64);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*bytes, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// An integer NumericDate; fractions and out-of-range numbers are refused.
enum class int_claim { absent, bad, ok };
int_claim get_int(const boost::json::object& o, std::string_view name, std::int64_t& out) {
  const boost::json::value* v = o.if_contains(name);
  if (!v) return int_claim::absent;
  if (!v->is_int64()) return int_claim::bad;
  out = v->get_int64();
  return int_claim::ok;
}

// nullptr when absent; `bad` set when present but not a string.
const boost::json::string* get_string(const boost::json::object& o, std::string_view name,
                                      bool& bad) {
  const boost::json::value* v = o.if_contains(name);
  if (!v) return nullptr;
  if (!v->is_string()) bad = true;
  return v->if_string();
}

bool audience_matches(const boost::json::value* aud, std::string_view want) {
  if (!aud) return false;
  if (aud->is_string()) return aud->get_string() == want;
  if (const boost::json::array* list = aud->if_array()) {
    for (const boost::json::value& a : *list) {
      if (a.is_string() && a.get_string() == want) return true;
    }
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string issue(const jwt_config& config, const principal& who, std::int64_t now_s, jwt_alg_t alg,
                  const std::string& key) {
  if (who.who == role::none) throw std::invalid_argument("cannot issue a token without a role");
  if (who.key_id.empty()) throw std::invalid_argument("cannot issue a token without a key id");
  if (who.team.empty() && who.who != role::admin) {
    throw std::invalid_argument("only admin tokens may be org-wide");
  }
  if (config.ttl_seconds <= 0) throw std::invalid_argument("jwt ttl_seconds must be positive");
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
  jwt_ptr j(raw);
  const std::string role_name(to_string(who.who));
  bool ok = jwt_add_grant(j.get(), "iss", config.issuer.c_str()) == 0 &&
            jwt_add_grant(j.get(), "aud", config.audience.c_str()) == 0 &&
            jwt_add_grant(j.get(), "sub", who.key_id.c_str()) == 0 &&
            jwt_add_grant(j.get(), "key_id", who.key_id.c_str()) == 0 &&
            jwt_add_grant(j.get(), "role", role_name.c_str()) == 0 &&
            (who.team.empty() || jwt_add_grant(j.get(), "team", who.team.c_str()) == 0) &&
            jwt_add_grant_int(j.get(), "iat", static_cast<long>(now_s)) == 0 &&
            jwt_add_grant_int(j.get(), "exp", static_cast<long>(now_s + config.ttl_seconds)) == 0 &&
            jwt_set_alg(j.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size())) == 0;
  if (!ok) throw std::runtime_error("libjwt refused the token's claims or key");
  char* text = jwt_encode_str(j.get());
  if (!text) throw std::runtime_error("libjwt could not sign the token");
  std::string out(text);
  std::free(text);
  return out;
}

}  // namespace

jwt_verifier::jwt_verifier(jwt_config config) : config_(std::move(config)) {
  if (!config_.hs256_secret.empty()) {
    if (config_.hs256_secret.size() < min_hs256_secret_bytes) {
      throw std::invalid_argument("the HS256 secret must be at least 32 bytes");
    }
    // A PEM here means a public key was configured as a shared secret: the key-confusion
    // mistake that lets anyone who has the public key forge tokens.
    if (config_.hs256_secret.find("-----BEGIN") != std::string::npos) {
      throw std::invalid_argument("the HS256 secret must not be a PEM key");
    }
  }
  if (config_.rs256_public_pem.empty() && !config_.rs256_private_pem.empty()) {
    config_.rs256_public_pem = public_pem_of(config_.rs256_private_pem);
  }
  if (!config_.rs256_public_pem.empty()) {
    bio_ptr in = read_bio(config_.rs256_public_pem);
    pkey_ptr key(in ? PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr) : nullptr);
    require_rsa(key.get(), "rs256_public_pem");
  }
}

std::optional<principal> jwt_verifier::verify(std::string_view token, std::int64_t now_s,
                                              std::string* why) const {
  std::optional<jwt_claims> c = verify_claims(token, now_s, why);
  if (!c) return std::nullopt;
  return std::move(c->who);
}

std::optional<jwt_claims> jwt_verifier::verify_claims(std::string_view token, std::int64_t now_s,
                                                      std::string* why) const {
  auto refuse = [why](std::string_view reason) -> std::optional<jwt_claims> {
    if (why) *why = reason;
    return std::nullopt;
  };

  // 1. Shape: three non-empty base64url segments (an unsigned token has an empty third).
  if (token.size() > max_token_bytes) return refuse("token too long");
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse("malformed token: not three segments");
  }
  std::string_view head_b64 = token.substr(0, dot1);
  std::string_view body_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);

  // 2. The header, read here: the algorithm is chosen by our configuration, never by the
  // token. HS256 is checked only against the shared secret and RS256 only against the RSA
  // public key, so a token HMAC-signed with the public key (key confusion) cannot verify.
  std::optional<boost::json::object> head = decode_json_segment(head_b64);
  if (!head) return refuse("malformed token header");
  const boost::json::value* alg_v = head->if_contains("alg");
  if (!alg_v || !alg_v->is_string()) return refuse("token header has no alg");
  std::string_view alg = alg_v->get_string();
  jwt_alg_t expected;
  const std::string* key;
  if (alg == "HS256") {
    if (config_.hs256_secret.empty()) return refuse("HS256 tokens are not accepted here");
    expected = JWT_ALG_HS256;
    key = &config_.hs256_secret;
  } else if (alg == "RS256") {
    if (config_.rs256_public_pem.empty()) return refuse("RS256 tokens are not accepted here");
    expected = JWT_ALG_RS256;
    key = &config_.rs256_public_pem;
  } else if (iequals(alg, "none")) {
    return refuse("unsigned tokens (alg none) are not accepted");
  } else {
    return refuse("token algorithm is not accepted (HS256 or RS256 only)");
  }
  if (const boost::json::value* typ = head->if_contains("typ")) {
    if (!typ->is_string() || !iequals(typ->get_string(), "JWT")) return refuse("token typ not JWT");
  }
  if (head->contains("crit")) return refuse("token header has critical extensions");
  if (sig_b64.empty()) return refuse("token has no signature");
  // Canonical base64url only: libjwt's decoder ignores the unused low bits of the last
  // character, which would let one signature be written several ways.
  if (!base64url_decode(sig_b64)) return refuse("malformed token signature");
  std::optional<boost::json::object> claims = decode_json_segment(body_b64);
  if (!claims) return refuse("malformed token payload");

  // 3. The signature, by libjwt with the pinned key.
  const std::string text(token);
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key->data()),
                      static_cast<int>(key->size()));
  jwt_ptr decoded(raw);
  if (rc != 0 || !decoded) return refuse("token signature does not verify");
  if (jwt_get_alg(decoded.get()) != expected) return refuse("token algorithm mismatch");

  // 4. Claims.
  std::int64_t exp = 0, nbf = 0, iat = 0;
  switch (get_int(*claims, "exp", exp)) {
    case int_claim::absent:
      return refuse("token has no exp");
    case int_claim::bad:
      return refuse("token exp is not an integer");
    case int_claim::ok:
      if (now_s - config_.leeway_seconds >= exp) return refuse("token expired");
  }
  switch (get_int(*claims, "nbf", nbf)) {
    case int_claim::absent:
      break;
    case int_claim::bad:
      return refuse("token nbf is not an integer");
    case int_claim::ok:
      if (nbf > now_s + config_.leeway_seconds) return refuse("token not yet valid (nbf)");
  }
  switch (get_int(*claims, "iat", iat)) {
    case int_claim::absent:
      break;
    case int_claim::bad:
      return refuse("token iat is not an integer");
    case int_claim::ok:
      if (iat > now_s + config_.leeway_seconds) return refuse("token issued in the future (iat)");
  }
  bool bad = false;
  const boost::json::string* iss = get_string(*claims, "iss", bad);
  if (!iss || *iss != config_.issuer) return refuse("token issuer is not accepted");
  if (!audience_matches(claims->if_contains("aud"), config_.audience)) {
    return refuse("token audience is not accepted");
  }
  const boost::json::string* role_s = get_string(*claims, "role", bad);
  std::optional<role> who = role_s ? role_from_string(*role_s) : std::nullopt;
  if (!who) return refuse("token role missing or unknown");
  const boost::json::string* team = get_string(*claims, "team", bad);
  const boost::json::string* key_id = get_string(*claims, "key_id", bad);
  const boost::json::string* sub = get_string(*claims, "sub", bad);
  if (bad) return refuse("token claim team, key_id or sub is not a string");

  jwt_claims out;
  out.who.who = *who;
  out.who.team = team ? std::string(*team) : std::string();
  out.who.key_id = key_id ? std::string(*key_id) : std::string();
  out.subject = sub ? std::string(*sub) : std::string();
  out.expires_at_s = exp;
  if (out.who.team.empty() && *who != role::admin) {
    return refuse("token has no team (only admin tokens may be org-wide)");
  }
  if (!out.who.team.empty() && !valid_id(out.who.team)) return refuse("token team is malformed");
  if (out.who.key_id.empty() && out.subject.empty()) return refuse("token names no sub or key_id");
  return out;
}

std::string issue_hs256(const jwt_config& config, const principal& who, std::int64_t now_s) {
  if (config.hs256_secret.size() < min_hs256_secret_bytes) {
    throw std::invalid_argument("issuing HS256 needs a secret of at least 32 bytes");
  }
  return issue(config, who, now_s, JWT_ALG_HS256, config.hs256_secret);
}

std::string issue_rs256(const jwt_config& config, const principal& who, std::int64_t now_s) {
  if (config.rs256_private_pem.empty()) {
    throw std::invalid_argument("issuing RS256 needs rs256_private_pem");
  }
  return issue(config, who, now_s, JWT_ALG_RS256, config.rs256_private_pem);
}

std::string issue_token(const jwt_config& config, const principal& who, std::int64_t now_s) {
  if (!config.hs256_secret.empty()) return issue_hs256(config, who, now_s);
  if (!config.rs256_private_pem.empty()) return issue_rs256(config, who, now_s);
  throw std::invalid_argument("no JWT signing key configured (hs256_secret or rs256_private_pem)");
}

}  // namespace tally::api
