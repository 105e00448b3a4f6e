// Standard Webhooks signing: the specification's published vector, secret format and decoding
// (padding included), and verification of multi-entry headers and tampered messages.
#include "consumers/webhook_signature.h"

#include <set>

#include <gtest/gtest.h>

namespace tally {
namespace {

// The vector of the Standard Webhooks specification and its reference libraries.
constexpr std::string_view spec_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view spec_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t spec_ts = 1614265330;
constexpr std::string_view spec_body = R"({"test": 2432232314})";
constexpr std::string_view spec_sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(WebhookSignature, matches_the_specification_vector) {
  EXPECT_EQ(webhook_signature(spec_secret, spec_id, spec_ts, spec_body), spec_sig);
  EXPECT_TRUE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body, spec_sig));
}

TEST(WebhookSignature, secret_is_whsec_and_24_random_bytes_in_padded_base64) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string s = generate_webhook_secret();
    ASSERT_EQ(s.size(), 6u + 32u) << s;
    EXPECT_EQ(s.substr(0, 6), "whsec_");
    auto key = decode_webhook_secret(s);
    ASSERT_TRUE(key) << s;
    EXPECT_EQ(key->size(), 24u);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(WebhookSignature, decoding_strips_the_bytes_padding_stands_for) {
  EXPECT_EQ(decode_webhook_secret("whsec_YQ=="), "a");
  EXPECT_EQ(decode_webhook_secret("whsec_aGk="), "hi");
  EXPECT_EQ(decode_webhook_secret("whsec_aGVsbG8="), "hello");
  EXPECT_EQ(decode_webhook_secret("whsec_AAAA"), std::string(3, '\0'));
  EXPECT_EQ(decode_webhook_secret(spec_secret)->size(), 24u);
}

TEST(WebhookSignature, malformed_secrets_do_not_decode) {
  for (std::string_view bad :
       {"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_abc", "whsec_ab=c", "whsec_a===", "whsec_====", "whsec_ab-_",
        "whsec_ YQ==", "whsec_YQ==\n", "whsec_YQ==YQ=="})
    EXPECT_FALSE(decode_webhook_secret(bad)) << bad;
  EXPECT_THROW(webhook_signature("whsec_!!", "id", 1, "{}"), std::invalid_argument);
  EXPECT_FALSE(verify_webhook_signature("whsec_!!", spec_id, "1614265330", spec_body, spec_sig));
}

TEST(WebhookSignature, any_space_separated_v1_entry_may_match) {
  std::string other = webhook_signature(generate_webhook_secret(), spec_id, spec_ts, spec_body);
  EXPECT_TRUE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body,
                                       other + " " + std::string(spec_sig)));
  EXPECT_TRUE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body,
                                       std::string(spec_sig) + " " + other));
  EXPECT_TRUE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body,
                                       "v1a,abc " + std::string(spec_sig)));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body, other));
  // Only the v1 scheme: the same bytes under another version do not count.
  std::string v2 = "v2," + std::string(spec_sig.substr(3));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body, v2));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body, ""));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "1614265330", spec_body, "v1,"));
}

TEST(WebhookSignature, tampering_with_any_part_fails) {
  const std::string ts = "1614265330";
  EXPECT_FALSE(verify_webhook_signature(spec_secret, "msg_other", ts, spec_body, spec_sig));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "1614265331", spec_body, spec_sig));
  EXPECT_FALSE(
      verify_webhook_signature(spec_secret, spec_id, ts, R"({"test": 2432232315})", spec_sig));
  EXPECT_FALSE(
      verify_webhook_signature(generate_webhook_secret(), spec_id, ts, spec_body, spec_sig));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "", spec_body, spec_sig));
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, "16142653x0", spec_body, spec_sig));
  std::string flipped(spec_sig);
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_webhook_signature(spec_secret, spec_id, ts, spec_body, flipped));
}

TEST(WebhookSignature, round_trips_with_a_fresh_secret) {
  std::string secret = generate_webhook_secret();
  std::string body = R"({"type":"budget.threshold_crossed","data":{"percent":80}})";
  std::string sig = webhook_signature(secret, "ev_1", 1700000000, body);
  EXPECT_EQ(sig.substr(0, 3), "v1,");
  EXPECT_EQ(sig.size(), 3u + 44u);
  EXPECT_TRUE(verify_webhook_signature(secret, "ev_1", "1700000000", body, sig));
}

}  // namespace
}  // namespace tally
