// schemas/sha256.h: SHA-256 as lowercase hex, and the prefixes the short content-derived ids
// take of it (price versions "p-" + 12, alert rules 12, control events 16, dismissals 32).
#include "schemas/sha256.h"

#include <gtest/gtest.h>

#include <thread>

#include "schemas/pricing.h"

namespace tally {
namespace {

constexpr std::string_view abc_digest =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";  // FIPS 180-2 "abc"

TEST(sha256, full_digest_and_its_prefixes) {
  EXPECT_EQ(sha256_hex("abc"), abc_digest);
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (std::size_t n : {0u, 1u, 12u, 16u, 32u, 63u, 64u}) {
    EXPECT_EQ(sha256_hex("abc", n), abc_digest.substr(0, n)) << n;
  }
  EXPECT_EQ(sha256_hex("abc", 1000), abc_digest);  // never more than the digest
}

TEST(sha256, the_per_thread_context_gives_the_same_digest_on_every_thread) {
  std::string a, b;
  std::thread t1([&] { a = sha256_hex("abc"); });
  std::thread t2([&] { b = sha256_hex("abc", 16); });
  t1.join();
  t2.join();
  EXPECT_EQ(a, abc_digest);
  EXPECT_EQ(b, abc_digest.substr(0, 16));
}

// Derived ids are kept in events and stores: the derivation must never change. The golden id
// below was computed before the price version id shared this digest.
TEST(sha256, a_price_version_id_is_the_one_it_always_was) {
  price_version v;
  v.effective_from_ms = 1'767'225'600'000;  // 2026-01-01
  v.models["sonnet"] = make_model_price(nanos{3'000'000'000}, nanos{15'000'000'000});
  const auto id = derive_price_version_id(v);
  EXPECT_EQ(id, "p-9e281300ef52");
}

}  // namespace
}  // namespace tally
