// API keys: secret format, hashing, the registry (authenticate, revoke, idempotent apply) and
// the control-topic codec.
#include "api/api_keys.h"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace tally::api {
namespace {

bool is_base64url(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

TEST(ApiKeySecret, has_prefix_and_43_base64url_characters) {
  std::string s = generate_key_secret();
  ASSERT_EQ(s.size(), 47u) << s;
  EXPECT_EQ(s.substr(0, 4), "tly_");
  EXPECT_TRUE(is_base64url(s.substr(4))) << s;
}

TEST(ApiKeySecret, secrets_and_ids_are_unique) {
  std::set<std::string> secrets, ids;
  for (int i = 0; i < 200; ++i) {
    std::string s = generate_key_secret();
    secrets.insert(s);
    ids.insert(key_id_for(s));
  }
  EXPECT_EQ(secrets.size(), 200u);
  EXPECT_EQ(ids.size(), 200u);
}

TEST(ApiKeySecret, id_is_a_prefix_of_the_hash) {
  std::string s = generate_key_secret();
  std::string id = key_id_for(s);
  ASSERT_EQ(id.size(), 16u);
  EXPECT_EQ(id, "key_" + sha256_hex(s).substr(0, 12));
  api_key_record r = make_key_record(s, role::agent, "eng", "ci", 5);
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(r.hash_hex, sha256_hex(s));
}

TEST(ApiKeyHash, sha256_known_vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeyHash, constant_time_equal_compares_whole_strings) {
  std::string a = sha256_hex("a"), b = a;
  EXPECT_TRUE(constant_time_equal(a, b));
  b.front() = b.front() == '0' ? '1' : '0';
  EXPECT_FALSE(constant_time_equal(a, b));
  b = a;
  b.back() = b.back() == '0' ? '1' : '0';
  EXPECT_FALSE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal(a, a.substr(0, 63)));
  EXPECT_TRUE(constant_time_equal("", ""));
}

class ApiKeyRegistry : public ::testing::Test {
 protected:
  std::string secret = generate_key_secret();
  api_key_record rec = make_key_record(secret, role::agent, "eng", "ci runner", 1000);
  key_registry keys;
};

TEST_F(ApiKeyRegistry, authenticates_a_known_secret) {
  ASSERT_TRUE(keys.apply(rec));
  std::optional<principal> p = keys.authenticate(secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->who, role::agent);
  EXPECT_EQ(p->team, "eng");
  EXPECT_EQ(p->key_id, rec.id);
  EXPECT_FALSE(p->org_wide());
}

TEST_F(ApiKeyRegistry, refuses_unknown_and_altered_secrets) {
  ASSERT_TRUE(keys.apply(rec));
  EXPECT_FALSE(keys.authenticate(generate_key_secret()));
  EXPECT_FALSE(keys.authenticate(""));
  std::string altered = secret;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(keys.authenticate(altered));
  EXPECT_FALSE(keys.authenticate(secret + " "));
  EXPECT_FALSE(keys.authenticate(rec.hash_hex));  // the stored hash is not a credential
  EXPECT_FALSE(keys.authenticate(rec.id));
}

TEST_F(ApiKeyRegistry, revoked_key_is_refused_and_stays_revoked) {
  ASSERT_TRUE(keys.apply(rec));
  ASSERT_TRUE(keys.authenticate(secret));
  api_key_record revoked = rec;
  revoked.revoked = true;
  ASSERT_TRUE(keys.apply(revoked));
  EXPECT_FALSE(keys.authenticate(secret));
  ASSERT_TRUE(keys.get(rec.id));
  EXPECT_TRUE(keys.get(rec.id)->revoked);
  // A replayed older record does not bring the key back.
  ASSERT_TRUE(keys.apply(rec));
  EXPECT_FALSE(keys.authenticate(secret));
  EXPECT_TRUE(keys.get(rec.id)->revoked);
}

TEST_F(ApiKeyRegistry, reapplying_a_record_is_idempotent) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(keys.apply(rec));
  std::vector<api_key_record> all = keys.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], rec);
  ASSERT_TRUE(keys.authenticate(secret));
  EXPECT_EQ(keys.authenticate(secret)->key_id, rec.id);
}

TEST_F(ApiKeyRegistry, a_record_with_the_same_id_replaces_the_old_one) {
  ASSERT_TRUE(keys.apply(rec));
  api_key_record renamed = rec;
  renamed.name = "nightly";
  ASSERT_TRUE(keys.apply(renamed));
  EXPECT_EQ(keys.get(rec.id)->name, "nightly");
  EXPECT_EQ(keys.list().size(), 1u);
}

TEST_F(ApiKeyRegistry, invalid_records_change_nothing) {
  api_key_record no_team = make_key_record(secret, role::reader, "", "r", 1);
  EXPECT_FALSE(keys.apply(no_team));
  EXPECT_NE(key_record_problem(no_team), std::nullopt);
  api_key_record no_role = make_key_record(secret, role::none, "eng", "r", 1);
  EXPECT_FALSE(keys.apply(no_role));
  api_key_record bad_hash = rec;
  bad_hash.hash_hex = "ABC";
  EXPECT_FALSE(keys.apply(bad_hash));
  api_key_record bad_team = rec;
  bad_team.team = "a/b";
  EXPECT_FALSE(keys.apply(bad_team));
  EXPECT_TRUE(keys.list().empty());
  EXPECT_FALSE(keys.authenticate(secret));
}

TEST_F(ApiKeyRegistry, org_wide_admin_key) {
  std::string admin_secret = generate_key_secret();
  ASSERT_TRUE(keys.apply(make_key_record(admin_secret, role::admin, "", "root", 1)));
  std::optional<principal> p = keys.authenticate(admin_secret);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->org_wide());
}

TEST_F(ApiKeyRegistry, list_filters_by_team_in_creation_order) {
  std::string s2 = generate_key_secret(), s3 = generate_key_secret();
  ASSERT_TRUE(keys.apply(make_key_record(s2, role::reader, "ops", "b", 3000)));
  ASSERT_TRUE(keys.apply(rec));  // eng, 1000
  ASSERT_TRUE(keys.apply(make_key_record(s3, role::admin, "eng", "c", 2000)));
  std::vector<api_key_record> eng = keys.list("eng");
  ASSERT_EQ(eng.size(), 2u);
  EXPECT_EQ(eng[0].name, "ci runner");
  EXPECT_EQ(eng[1].name, "c");
  EXPECT_EQ(keys.list("ops").size(), 1u);
  EXPECT_TRUE(keys.list("nobody").empty());
  std::vector<api_key_record> all = keys.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].name, "b");
  EXPECT_FALSE(keys.get("key_000000000000"));
}

TEST_F(ApiKeyRegistry, concurrent_apply_and_authenticate) {
  std::vector<std::string> secrets;
  for (int i = 0; i < 64; ++i) secrets.push_back(generate_key_secret());
  std::atomic<int> wrong{0};
  std::thread writer([&] {
    for (int i = 0; i < 64; ++i) {
      EXPECT_TRUE(keys.apply(make_key_record(secrets[i], role::agent, "eng", "w", i)));
    }
  });
  std::thread reader([&] {
    for (int round = 0; round < 20; ++round) {
      for (const std::string& s : secrets) {
        std::optional<principal> p = keys.authenticate(s);
        if (p && (p->key_id != key_id_for(s) || p->team != "eng")) ++wrong;
      }
    }
  });
  writer.join();
  reader.join();
  EXPECT_EQ(wrong.load(), 0);
  for (const std::string& s : secrets) EXPECT_TRUE(keys.authenticate(s));
  EXPECT_EQ(keys.list().size(), 64u);
}

TEST(ApiKeyCodec, round_trip_without_the_secret) {
  std::string secret = generate_key_secret();
  api_key_record r = make_key_record(secret, role::reader, "eng", "dash \"board\"", 1769904000000);
  r.revoked = true;
  std::string json = encode_key_record(r);
  EXPECT_EQ(json.find(secret), std::string::npos);
  EXPECT_EQ(json.find(secret.substr(4)), std::string::npos);
  EXPECT_NE(json.find(r.hash_hex), std::string::npos);
  auto back = decode_key_record(json);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, r);
}

TEST(ApiKeyCodec, golden_encoding) {
  api_key_record r{"key_0123456789ab", std::string(64, 'a'), role::admin, "", "root", 7, false};
  EXPECT_EQ(encode_key_record(r),
            R"({"id":"key_0123456789ab","sha256":")" + std::string(64, 'a') +
                R"(","role":"admin","team":"","name":"root","created_at_ms":7,"revoked":false})");
}

TEST(ApiKeyCodec, defaults_and_unknown_fields) {
  std::string h(64, 'b');
  auto r = decode_key_record(R"({"id":"key_1","sha256":")" + h +
                             R"(","role":"admin","created_at_ms":1,"future":[1,2]})");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->team, "");
  EXPECT_EQ(r->name, "");
  EXPECT_FALSE(r->revoked);
  EXPECT_EQ(r->who, role::admin);
}

TEST(ApiKeyCodec, refuses_malformed_and_invalid_records) {
  std::string h(64, 'c');
  auto base = [&](std::string_view role_json, std::string_view extra) {
    return R"({"id":"key_1","sha256":")" + h + R"(","role":)" + std::string(role_json) +
           R"(,"created_at_ms":1)" + std::string(extra) + "}";
  };
  EXPECT_TRUE(decode_key_record(base(R"("agent")", R"(,"team":"eng")")));
  EXPECT_FALSE(decode_key_record(base(R"("agent")", "")));  // agent without team
  EXPECT_FALSE(decode_key_record(base(R"("reader")", R"(,"team":"")")));
  EXPECT_FALSE(decode_key_record(base(R"("root")", "")));  // unknown role
  EXPECT_FALSE(decode_key_record(base(R"("none")", "")));
  EXPECT_FALSE(decode_key_record(base("1", "")));
  EXPECT_FALSE(decode_key_record(base(R"("admin")", R"(,"revoked":"yes")")));
  EXPECT_FALSE(decode_key_record(base(R"("admin")", R"(,"team":5)")));
  EXPECT_FALSE(decode_key_record(R"({"id":"key_1","role":"admin","created_at_ms":1})"));
  EXPECT_FALSE(
      decode_key_record(R"({"id":"key_1","sha256":"abc","role":"admin","created_at_ms":1})"));
  EXPECT_FALSE(decode_key_record("[]"));
  EXPECT_FALSE(decode_key_record("{"));
  EXPECT_FALSE(decode_key_record(""));
}

TEST(ApiKeyRoles, names) {
  for (role r : {role::admin, role::agent, role::reader}) {
    EXPECT_EQ(role_from_string(to_string(r)), r);
  }
  EXPECT_EQ(to_string(role::agent), "agent");
  EXPECT_FALSE(role_from_string("none"));
  EXPECT_FALSE(role_from_string("Admin"));
  EXPECT_FALSE(role_from_string(""));
}

}  // namespace
}  // namespace tally::api
