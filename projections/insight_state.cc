#include "projections/insight_state.h"

#include <stdexcept>

#include <boost/json.hpp>

#include "schemas/sha256.h"

namespace tally {
namespace json = boost::json;

namespace {

std::string prefix_of(const team_id& team) {
  return "insight/" + team.str() + "/";
}

std::optional<insight_dismissal> decode_row(std::string_view v) {
  boost::system::error_code ec;
  auto j = json::parse(v, ec);
  if (ec || !j.is_object()) return std::nullopt;
  auto& o = j.get_object();
  auto* at = o.if_contains("dismissed_at");
  auto* by = o.if_contains("by");
  if (!at || !at->is_int64() || !by || !by->is_string()) return std::nullopt;
  return insight_dismissal{at->get_int64(), std::string(by->get_string())};
}

}  // namespace

std::map<std::string, insight_dismissal> dismissed_insights(live_view& live, const team_id& team) {
  std::map<std::string, insight_dismissal> out;
  const std::string prefix = prefix_of(team);
  live.scan_entity_rows(prefix, [&](std::string_view k, std::string_view v) {
    if (auto d = decode_row(v)) out.emplace(std::string(k.substr(prefix.size())), std::move(*d));
  });
  return out;
}

void fold_insight_dismissed(ledger_state& s, const event& e) {
  auto* p = std::get_if<insight_dismissed>(&e.payload);
  if (!p) return;
  const std::string key = prefix_of(p->team) + p->insight;
  if (s.entity_row(key)) return;
  json::object o;
  o["dismissed_at"] = e.time;
  o["by"] = p->by;
  s.put_entity(key, json::serialize(o));
}

event_id dismissal_event_id(const std::string& insight) {
  std::string id = "dismiss:" + insight;
  if (valid_id(id)) return event_id{id};
  return event_id{"dismiss:" + sha256_hex(insight, 32)};
}

command_decision decide_dismiss_insight(live_view& live, const command_context& ctx,
                                        const team_id& team, const std::string& insight,
                                        const std::string& by, bool listed) {
  auto refuse = [](std::string code, std::string detail) {
    command_decision d;
    d.refused = refusal::not_found;
    d.code = std::move(code);
    d.detail = std::move(detail);
    return d;
  };
  if (!live.team(team)) return refuse("team_not_found", "no team " + team.str());
  if (live.entity_row(prefix_of(team) + insight)) return {};  // dismissed already: a retry
  if (!listed) return refuse("insight_not_found", "no insight " + insight + " in the team now");
  command_decision d;
  event e;
  e.id = ctx.id;
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = insight_dismissed{team, insight, by};
  d.events.push_back(std::move(e));
  return d;
}

}  // namespace tally
