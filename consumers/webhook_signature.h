// Standard Webhooks signing (https://www.standardwebhooks.com): a subscription's secret is
// "whsec_" + base64 of random key bytes; a delivery carries webhook-id, webhook-timestamp and
// webhook-signature = "v1," + base64(HMAC-SHA256(key, id "." timestamp "." body)).
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

// "whsec_" + standard base64 (padded) of 24 bytes from RAND_bytes. Throws std::runtime_error
// when the random generator fails.
std::string generate_webhook_secret();

// The HMAC key: the base64-decoded bytes after "whsec_"; nullopt when the prefix is missing,
// the base64 is malformed or the key is empty.
std::optional<std::string> decode_webhook_secret(std::string_view whsec);

// "v1," + base64(HMAC-SHA256(key, msg_id + "." + timestamp_s + "." + body)). Throws
// std::invalid_argument when the secret does not decode.
std::string webhook_signature(std::string_view whsec, std::string_view msg_id,
                              std::int64_t timestamp_s, std::string_view body);

// True when one of the space-separated entries of `signature_header` is "v1,<the signature>"
// (compared in constant time). False for a malformed secret or timestamp. The caller checks
// that the timestamp is recent.
bool verify_webhook_signature(std::string_view whsec, std::string_view msg_id,
                              std::string_view timestamp, std::string_view body,
                              std::string_view signature_header);

}  // namespace tally
