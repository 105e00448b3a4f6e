#include "consumers/webhook_registry.h"

#include <algorithm>
#include <mutex>

#include <boost/json.hpp>

#include "schemas/json_fields.h"

namespace tally {
namespace json = boost::json;

bool webhook_matches(const webhook_subscription& s, std::string_view team, std::string_view level) {
  if (!s.enabled || s.deleted) return false;
  if (!s.team.empty() && s.team != team) return false;
  return s.min_level.empty() || alert_level_rank(level) >= alert_level_rank(s.min_level);
}

std::string encode_webhook_record(const webhook_subscription& s) {
  json::object o;
  o["id"] = s.id;
  o["url"] = s.url;
  o["team_id"] = s.team;
  o["min_level"] = s.min_level;
  o["secret"] = s.secret;
  o["description"] = s.description;
  o["created_at"] = s.created_at;
  o["enabled"] = s.enabled;
  o["disabled_reason"] = s.disabled_reason;
  o["disabled_at"] = s.disabled_at;
  o["deleted"] = s.deleted;
  o["version"] = s.version;
  return json::serialize(o);
}

boost::system::result<webhook_subscription> decode_webhook_record(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return ec;
  if (!v.is_object()) return make_error_code(json::error::not_object);
  auto& o = v.get_object();
  webhook_subscription s;
  s.id = string_field(o, "id");
  s.url = string_field(o, "url");
  s.team = string_field(o, "team_id");
  s.min_level = string_field(o, "min_level");
  s.secret = string_field(o, "secret");
  s.description = string_field(o, "description");
  s.created_at = int64_field(o, "created_at");
  s.enabled = bool_field(o, "enabled", true);
  s.disabled_reason = string_field(o, "disabled_reason");
  s.disabled_at = int64_field(o, "disabled_at");
  s.deleted = bool_field(o, "deleted", false);
  s.version = int64_field(o, "version");
  if (s.id.empty() || (!s.deleted && (s.url.empty() || s.secret.empty())))
    return make_error_code(json::error::not_found);
  return s;
}

bool webhook_registry::apply(const webhook_subscription& s) {
  std::unique_lock lock(mu_);
  auto [it, inserted] = by_id_.try_emplace(s.id, s);
  if (inserted) return true;
  if (it->second.version >= s.version) return false;
  it->second = s;
  return true;
}

std::vector<webhook_subscription> webhook_registry::list(std::optional<std::string> team) const {
  std::vector<webhook_subscription> out;
  {
    std::shared_lock lock(mu_);
    for (auto& [id, s] : by_id_) {
      if (s.deleted) continue;
      if (team && s.team != *team) continue;
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

std::optional<webhook_subscription> webhook_registry::get(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<webhook_subscription> webhook_registry::matching(std::string_view team,
                                                             std::string_view level) const {
  std::vector<webhook_subscription> out;
  {
    std::shared_lock lock(mu_);
    for (auto& [id, s] : by_id_) {
      if (webhook_matches(s, team, level)) out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace tally
