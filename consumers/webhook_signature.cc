#include "consumers/webhook_signature.h"

#include <charconv>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tally {
namespace {

constexpr std::string_view prefix = "whsec_";
constexpr std::string_view version = "v1,";

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// Standard base64 with padding. EVP_DecodeBlock does not strip the bytes the padding stands
// for (it always returns 3 per 4 characters), and accepts surrounding whitespace: both are
// handled here.
std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  if (text.substr(0, text.size() - pad).find('=') != std::string_view::npos) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - pad);
  return out;
}

std::string sign(const std::string& key, std::string_view msg_id, std::string_view timestamp,
                 std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + timestamp.size() + body.size() + 2);
  content.append(msg_id).append(".").append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(version) + base64(mac, len);
}

}  // namespace

std::string generate_webhook_secret() {
  unsigned char key[24];
  if (RAND_bytes(key, sizeof key) != 1)
    throw std::runtime_error("RAND_bytes failed: cannot generate a webhook secret");
  return std::string(prefix) + base64(key, sizeof key);
}

std::optional<std::string> decode_webhook_secret(std::string_view whsec) {
  if (!whsec.starts_with(prefix)) return std::nullopt;
  auto key = unbase64(whsec.substr(prefix.size()));
  if (!key || key->empty()) return std::nullopt;
  return key;
}

std::string webhook_signature(std::string_view whsec, std::string_view msg_id,
                              std::int64_t timestamp_s, std::string_view body) {
  auto key = decode_webhook_secret(whsec);
  if (!key) throw std::invalid_argument("malformed webhook secret (want whsec_<base64>)");
  return sign(*key, msg_id, std::to_string(timestamp_s), body);
}

bool verify_webhook_signature(std::string_view whsec, std::string_view msg_id,
                              std::string_view timestamp, std::string_view body,
                              std::string_view signature_header) {
  auto key = decode_webhook_secret(whsec);
  if (!key) return false;
  std::int64_t ts = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (ec != std::errc{} || end != timestamp.data() + timestamp.size() || timestamp.empty())
    return false;
  const std::string expected = sign(*key, msg_id, timestamp, body);
  bool found = false;
  std::size_t pos = 0;
  while (pos <= signature_header.size()) {
    std::size_t space = signature_header.find(' ', pos);
    if (space == std::string_view::npos) space = signature_header.size();
    std::string_view entry = signature_header.substr(pos, space - pos);
    // Every entry is compared (no early exit) so the time does not tell which one matched.
    if (entry.size() == expected.size() &&
        CRYPTO_memcmp(entry.data(), expected.data(), expected.size()) == 0)
      found = true;
    pos = space + 1;
  }
  return found;
}

}  // namespace tally
