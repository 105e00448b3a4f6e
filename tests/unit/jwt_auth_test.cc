// JWT bearer tokens: issuing and verifying HS256 and RS256, algorithm pinning (alg none, the
// RS256 -> HS256 key-confusion attack), time and audience claims, and malformed input.
#include "api/jwt_auth.h"

#include <cstdlib>
#include <memory>
#include <random>

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "api/base64url.h"

namespace tally::api {
namespace {

constexpr std::int64_t now_s = 1'769'904'000;  // 2026-02-01T00:00:00Z
const std::string hs_secret = "0123456789abcdef0123456789abcdef-test-only";

struct rsa_pair {
  std::string private_pem, public_pem;
};

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

rsa_pair make_rsa_pair() {
  rsa_pair out;
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (!key) return out;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) == 1 &&
      PEM_write_bio_PUBKEY(pub, key) == 1) {
    out.private_pem = bio_text(priv);
    out.public_pem = bio_text(pub);
  }
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
  return out;
}

// Signs arbitrary claims with libjwt, as a foreign (or hostile) issuer would.
std::string sign(jwt_alg_t alg, const std::string& key, const boost::json::object& claims) {
  jwt_t* j = nullptr;
  if (jwt_new(&j) != 0) return {};
  std::string json = boost::json::serialize(claims);
  std::string out;
  if (jwt_add_grants_json(j, json.c_str()) == 0 &&
      jwt_set_alg(j, alg,
                  key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0) {
    if (char* s = jwt_encode_str(j)) {
      out = s;
      std::free(s);
    }
  }
  jwt_free(j);
  return out;
}

boost::json::object good_claims() {
  return {{"iss", "tally"},  {"aud", "tally-api"}, {"sub", "key_abc"}, {"key_id", "key_abc"},
          {"role", "agent"}, {"team", "eng"},      {"iat", now_s},     {"exp", now_s + 900}};
}

std::string segment(const boost::json::object& o) {
  return base64url_encode(boost::json::serialize(o));
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa = new rsa_pair(make_rsa_pair());
    other_rsa = new rsa_pair(make_rsa_pair());
  }
  static void TearDownTestSuite() {
    delete rsa;
    delete other_rsa;
  }
  void SetUp() override {
    ASSERT_FALSE(rsa->public_pem.empty());
    ASSERT_FALSE(other_rsa->public_pem.empty());
  }

  jwt_config hs_config() const {
    jwt_config c;
    c.hs256_secret = hs_secret;
    return c;
  }
  jwt_config rs_verify_config() const {
    jwt_config c;
    c.rs256_public_pem = rsa->public_pem;
    return c;
  }
  jwt_config rs_issue_config() const {
    jwt_config c;
    c.rs256_private_pem = rsa->private_pem;
    return c;
  }

  // The reason a token is refused; fails the test if it is accepted.
  static std::string refusal(const jwt_verifier& v, std::string_view token,
                             std::int64_t at = now_s) {
    std::string why;
    std::optional<principal> p = v.verify(token, at, &why);
    EXPECT_FALSE(p) << "accepted: " << token;
    EXPECT_FALSE(why.empty());
    return why;
  }

  static inline rsa_pair* rsa = nullptr;
  static inline rsa_pair* other_rsa = nullptr;
  principal agent{role::agent, "eng", "key_abc"};
};

TEST_F(JwtTest, issued_hs256_token_verifies) {
  jwt_verifier v(hs_config());
  std::string token = issue_hs256(hs_config(), agent, now_s);
  std::string why;
  std::optional<principal> p = v.verify(token, now_s + 10, &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->who, role::agent);
  EXPECT_EQ(p->team, "eng");
  EXPECT_EQ(p->key_id, "key_abc");
  std::optional<jwt_claims> c = v.verify_claims(token, now_s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->subject, "key_abc");
  EXPECT_EQ(c->expires_at_s, now_s + 900);
}

TEST_F(JwtTest, issued_rs256_token_verifies_with_the_public_key_only) {
  std::string token = issue_token(rs_issue_config(), agent, now_s);
  auto head = base64url_decode(token.substr(0, token.find('.')));
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("\"RS256\""), std::string::npos) << *head;
  jwt_verifier v(rs_verify_config());
  std::string why;
  std::optional<principal> p = v.verify(token, now_s, &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->team, "eng");
  // A node that only has the private key derives the public one.
  EXPECT_TRUE(jwt_verifier(rs_issue_config()).verify(token, now_s));
  // Another RSA key does not verify it.
  jwt_config other;
  other.rs256_public_pem = other_rsa->public_pem;
  EXPECT_EQ(refusal(jwt_verifier(other), token), "token signature does not verify");
}

TEST_F(JwtTest, issue_token_prefers_hs256_and_needs_a_key) {
  jwt_config both = hs_config();
  both.rs256_private_pem = rsa->private_pem;
  std::string token = issue_token(both, agent, now_s);
  EXPECT_NE(base64url_decode(token.substr(0, token.find('.')))->find("HS256"), std::string::npos);
  EXPECT_THROW(issue_token(jwt_config{}, agent, now_s), std::invalid_argument);
  EXPECT_THROW(issue_hs256(rs_issue_config(), agent, now_s), std::invalid_argument);
  EXPECT_THROW(issue_hs256(hs_config(), principal{role::agent, "", "key_abc"}, now_s),
               std::invalid_argument);  // agents are never org-wide
  EXPECT_THROW(issue_hs256(hs_config(), principal{role::agent, "eng", ""}, now_s),
               std::invalid_argument);
}

TEST_F(JwtTest, org_wide_admin_token) {
  jwt_verifier v(hs_config());
  std::optional<principal> p =
      v.verify(issue_hs256(hs_config(), principal{role::admin, "", "key_root"}, now_s), now_s);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->org_wide());
}

TEST_F(JwtTest, expiry_with_leeway) {
  jwt_verifier v(hs_config());  // ttl 900, leeway 30
  std::string token = issue_hs256(hs_config(), agent, now_s);
  EXPECT_TRUE(v.verify(token, now_s + 900 + 29));
  EXPECT_EQ(refusal(v, token, now_s + 900 + 30), "token expired");
  EXPECT_EQ(refusal(v, token, now_s + 86400), "token expired");
}

TEST_F(JwtTest, exp_is_required_and_an_integer) {
  jwt_verifier v(hs_config());
  boost::json::object c = good_claims();
  c.erase("exp");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token has no exp");
  c["exp"] = "2099-01-01";
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token exp is not an integer");
  c["exp"] = static_cast<double>(now_s + 900) + 0.5;
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token exp is not an integer");
}

TEST_F(JwtTest, not_yet_valid_and_issued_in_the_future) {
  jwt_verifier v(hs_config());
  boost::json::object c = good_claims();
  c["nbf"] = now_s + 31;
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token not yet valid (nbf)");
  c["nbf"] = now_s + 30;  // within leeway
  EXPECT_TRUE(v.verify(sign(JWT_ALG_HS256, hs_secret, c), now_s));
  c = good_claims();
  c["iat"] = now_s + 3600;
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token issued in the future (iat)");
}

TEST_F(JwtTest, wrong_audience_or_issuer) {
  jwt_verifier v(hs_config());
  boost::json::object c = good_claims();
  c["aud"] = "other-api";
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token audience is not accepted");
  c.erase("aud");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token audience is not accepted");
  c["aud"] = boost::json::array{"other-api", "tally-api"};
  EXPECT_TRUE(v.verify(sign(JWT_ALG_HS256, hs_secret, c), now_s));
  c = good_claims();
  c["iss"] = "evil";
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token issuer is not accepted");
  c.erase("iss");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token issuer is not accepted");
}

TEST_F(JwtTest, role_team_and_subject_claims) {
  jwt_verifier v(hs_config());
  boost::json::object c = good_claims();
  c["role"] = "root";
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token role missing or unknown");
  c.erase("role");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token role missing or unknown");
  c = good_claims();
  c["role"] = "reader";
  c.erase("team");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)),
            "token has no team (only admin tokens may be org-wide)");
  c["team"] = "";
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)),
            "token has no team (only admin tokens may be org-wide)");
  c["team"] = 7;
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)),
            "token claim team, key_id or sub is not a string");
  c = good_claims();
  c.erase("sub");
  c.erase("key_id");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS256, hs_secret, c)), "token names no sub or key_id");
  c["sub"] = "svc-deployer";  // a foreign issuer's subject, no key id
  std::optional<jwt_claims> ok = v.verify_claims(sign(JWT_ALG_HS256, hs_secret, c), now_s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->subject, "svc-deployer");
  EXPECT_EQ(ok->who.key_id, "");
}

TEST_F(JwtTest, wrong_secret) {
  jwt_verifier v(hs_config());
  std::string token = sign(JWT_ALG_HS256, "another-secret-of-32-bytes-or-more!!", good_claims());
  EXPECT_EQ(refusal(v, token), "token signature does not verify");
}

TEST_F(JwtTest, tampered_payload_or_signature) {
  jwt_verifier v(hs_config());
  std::string token = issue_hs256(hs_config(), agent, now_s);
  std::size_t d1 = token.find('.'), d2 = token.rfind('.');
  boost::json::object c = good_claims();
  c["role"] = "admin";
  std::string forged = token.substr(0, d1 + 1) + segment(c) + token.substr(d2);
  EXPECT_EQ(refusal(v, forged), "token signature does not verify");
  std::string sig_flipped = token;
  sig_flipped[d2 + 1] = sig_flipped[d2 + 1] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(v, sig_flipped), "token signature does not verify");
  EXPECT_EQ(refusal(v, token.substr(0, d2 + 1)), "token has no signature");
}

TEST_F(JwtTest, signature_must_be_canonical_base64url) {
  // 256 signature bytes take 342 characters; the last carries 2 bits and 4 unused ones.
  // Setting an unused bit decodes to the same bytes: refused, so a signature has one text.
  std::string token = issue_rs256(rs_issue_config(), agent, now_s);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  ASSERT_EQ(token.size() - token.rfind('.') - 1, 342u);
  std::string altered = token;
  altered.back() = alphabet[alphabet.find(token.back()) ^ 1];
  ASSERT_EQ(base64url_decode(altered.substr(altered.rfind('.') + 1)), std::nullopt);
  jwt_verifier v(rs_verify_config());
  ASSERT_TRUE(v.verify(token, now_s));
  EXPECT_EQ(refusal(v, altered), "malformed token signature");
}

TEST_F(JwtTest, alg_none_is_refused) {
  jwt_verifier v(hs_config());
  std::string unsigned_token = sign(JWT_ALG_NONE, "", good_claims());
  ASSERT_FALSE(unsigned_token.empty());
  EXPECT_EQ(refusal(v, unsigned_token), "unsigned tokens (alg none) are not accepted");
  std::string body = segment(good_claims());
  for (std::string alg : {"none", "None", "NONE", "nOnE"}) {
    std::string head = segment({{"alg", alg}, {"typ", "JWT"}});
    EXPECT_EQ(refusal(v, head + "." + body + "."), "unsigned tokens (alg none) are not accepted");
    EXPECT_EQ(refusal(v, head + "." + body + ".c2ln"),
              "unsigned tokens (alg none) are not accepted");
  }
  EXPECT_EQ(refusal(v, segment({{"typ", "JWT"}}) + "." + body + ".c2ln"),
            "token header has no alg");
}

TEST_F(JwtTest, other_algorithms_are_refused) {
  jwt_config both = hs_config();
  both.rs256_public_pem = rsa->public_pem;
  jwt_verifier v(both);
  EXPECT_EQ(refusal(v, sign(JWT_ALG_HS512, hs_secret, good_claims())),
            "token algorithm is not accepted (HS256 or RS256 only)");
  EXPECT_EQ(refusal(v, sign(JWT_ALG_RS512, rsa->private_pem, good_claims())),
            "token algorithm is not accepted (HS256 or RS256 only)");
}

TEST_F(JwtTest, rs256_token_to_an_hs_only_verifier_and_vice_versa) {
  std::string rs_token = issue_rs256(rs_issue_config(), agent, now_s);
  std::string hs_token = issue_hs256(hs_config(), agent, now_s);
  EXPECT_EQ(refusal(jwt_verifier(hs_config()), rs_token), "RS256 tokens are not accepted here");
  EXPECT_EQ(refusal(jwt_verifier(rs_verify_config()), hs_token),
            "HS256 tokens are not accepted here");
  EXPECT_EQ(refusal(jwt_verifier(jwt_config{}), hs_token), "HS256 tokens are not accepted here");
}

TEST_F(JwtTest, key_confusion_hs256_signed_with_the_rsa_public_key) {
  // The attacker knows the public key and HMACs a token with its PEM text as the secret.
  std::string forged = sign(JWT_ALG_HS256, rsa->public_pem, good_claims());
  ASSERT_FALSE(forged.empty());
  EXPECT_EQ(refusal(jwt_verifier(rs_verify_config()), forged),
            "HS256 tokens are not accepted here");
  jwt_config both = hs_config();
  both.rs256_public_pem = rsa->public_pem;
  EXPECT_EQ(refusal(jwt_verifier(both), forged), "token signature does not verify");
  // A configuration that makes the public key a shared secret is refused at start.
  jwt_config confused;
  confused.hs256_secret = rsa->public_pem;
  EXPECT_THROW(jwt_verifier{confused}, std::invalid_argument);
}

TEST_F(JwtTest, header_checks) {
  jwt_verifier v(hs_config());
  std::string good = issue_hs256(hs_config(), agent, now_s);
  std::string rest = good.substr(good.find('.'));
  EXPECT_EQ(refusal(v, segment({{"alg", "HS256"}, {"typ", "JWE"}}) + rest), "token typ not JWT");
  EXPECT_EQ(refusal(v, segment({{"alg", "HS256"}, {"crit", boost::json::array{"b64"}}}) + rest),
            "token header has critical extensions");
  EXPECT_EQ(refusal(v, segment({{"alg", 256}}) + rest), "token header has no alg");
}

TEST_F(JwtTest, bad_configuration_fails_at_start) {
  jwt_config short_secret;
  short_secret.hs256_secret = "too-short";
  EXPECT_THROW(jwt_verifier{short_secret}, std::invalid_argument);
  jwt_config garbage;
  garbage.rs256_public_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  EXPECT_THROW(jwt_verifier{garbage}, std::invalid_argument);
  jwt_config garbage_private;
  garbage_private.rs256_private_pem = "not a key";
  EXPECT_THROW(jwt_verifier{garbage_private}, std::invalid_argument);
}

TEST_F(JwtTest, malformed_tokens_are_refused_without_crashing) {
  jwt_verifier v(hs_config());
  for (std::string_view bad : {"", ".", "..", "...", "a.b.c", "a.b", "a..c", "....", "eyJ.eyJ.eyJ",
                               "Bearer x", "\xff\xfe.\x00.", "%%%.%%%.%%%"}) {
    refusal(v, bad);
  }
  refusal(v, std::string(10000, 'a'));
  refusal(v, segment({{"alg", "HS256"}}) + ".not base64!.c2ln");
  refusal(v, segment({{"alg", "HS256"}}) + "." + base64url_encode("[1,2]") + ".c2ln");
  refusal(v, segment({{"alg", "HS256"}}) + "." + base64url_encode("{\"exp\":") + ".c2ln");
}

TEST_F(JwtTest, every_truncation_and_mutation_is_refused) {
  jwt_config both = hs_config();
  both.rs256_public_pem = rsa->public_pem;
  jwt_verifier v(both);
  for (const std::string& token :
       {issue_hs256(hs_config(), agent, now_s), issue_rs256(rs_issue_config(), agent, now_s)}) {
    ASSERT_TRUE(v.verify(token, now_s));
    for (std::size_t n = 0; n < token.size(); ++n) {
      EXPECT_FALSE(v.verify(token.substr(0, n), now_s)) << n;
    }
    const unsigned seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x01\xff";
    for (int i = 0; i < 300; ++i) {
      std::string m = token;
      std::size_t at = rng() % m.size();
      char c = alphabet[rng() % alphabet.size()];
      if (c == m[at]) continue;
      m[at] = c;
      EXPECT_FALSE(v.verify(m, now_s)) << "mutation at " << at << ": " << m;
    }
    for (int i = 0; i < 200; ++i) {
      std::string junk(rng() % 200, '\0');
      for (char& c : junk) c = static_cast<char>(rng());
      if (i % 2) junk = token.substr(0, rng() % token.size()) + junk;
      EXPECT_FALSE(v.verify(junk, now_s));
    }
  }
}

}  // namespace
}  // namespace tally::api
