#include "schemas/sha256.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>

namespace tally {

std::string sha256_hex(std::string_view data, std::size_t hex_digits) {
  // Fetched once: with EVP_sha256() EVP_Digest looks the implementation up again on every call
  // (OpenSSL 3), which cost as much as the digest of a batch report's fingerprint. The context
  // is kept per thread: EVP_Digest allocates and frees one per call.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  const EVP_MD* md = fetched ? fetched : EVP_sha256();
  struct ctx_deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ctx_deleter> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    throw std::runtime_error("SHA-256 digest failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(std::min<std::size_t>(hex_digits, 2 * std::size_t{len}), '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned char byte = digest[i / 2];
    out[i] = hex[i % 2 == 0 ? byte >> 4 : byte & 0xf];
  }
  return out;
}

}  // namespace tally
