// Webhook subscription records: their codec, the registry's version order, and which
// subscriptions take an alert.
#include "consumers/webhook_registry.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

webhook_subscription sub(std::string id, std::string team, std::string level) {
  webhook_subscription s;
  s.id = std::move(id);
  s.url = "https://hooks.example.com/" + s.id;
  s.team = std::move(team);
  s.min_level = std::move(level);
  s.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  s.created_at = 1'795'428'000'000;
  s.version = 1;
  return s;
}

TEST(webhook_registry, a_record_survives_its_codec) {
  auto s = sub("wh_1", "acme", "critical");
  s.description = "pager \"duty\"";
  s.enabled = false;
  s.disabled_reason = "gone";
  s.disabled_at = 7;
  auto back = decode_webhook_record(encode_webhook_record(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(decode_webhook_record(R"({"id": "wh_1"})"));  // no url, no secret
  EXPECT_FALSE(decode_webhook_record("not json"));
}

TEST(webhook_registry, a_record_replaces_another_only_with_a_higher_version) {
  webhook_registry r;
  auto s = sub("wh_1", "acme", "");
  EXPECT_TRUE(r.apply(s));
  auto off = s;
  off.enabled = false;
  off.version = 2;
  EXPECT_TRUE(r.apply(off));
  EXPECT_FALSE(r.apply(s));  // the older record, read again from the topic
  EXPECT_FALSE(r.get("wh_1")->enabled);
  auto gone = off;
  gone.deleted = true;
  gone.version = 3;
  EXPECT_TRUE(r.apply(gone));
  EXPECT_TRUE(r.list().empty());
  EXPECT_TRUE(r.get("wh_1")->deleted);
}

TEST(webhook_registry, alerts_go_to_the_enabled_subscriptions_of_their_team_and_level) {
  webhook_registry r;
  r.apply(sub("wh_all", "", ""));
  r.apply(sub("wh_acme", "acme", ""));
  r.apply(sub("wh_acme_crit", "acme", "critical"));
  r.apply(sub("wh_beta", "beta", ""));
  auto off = sub("wh_off", "acme", "");
  off.enabled = false;
  r.apply(off);
  auto ids = [&](std::string team, std::string level) {
    std::vector<std::string> out;
    for (auto& s : r.matching(team, level)) out.push_back(s.id);
    return out;
  };
  EXPECT_EQ(ids("acme", "warning"), (std::vector<std::string>{"wh_acme", "wh_all"}));
  EXPECT_EQ(ids("acme", "exceeded"),
            (std::vector<std::string>{"wh_acme", "wh_acme_crit", "wh_all"}));
  EXPECT_EQ(ids("beta", "info"), (std::vector<std::string>{"wh_all", "wh_beta"}));
  EXPECT_EQ(r.list(std::string("acme")).size(), 3u);
}

}  // namespace
}  // namespace tally
