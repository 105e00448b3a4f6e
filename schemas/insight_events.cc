// Codec of InsightDismissed's `data` (rare: through Boost.JSON values both ways).
#include "schemas/insight_events.h"

#include <stdexcept>

#include <boost/json.hpp>

namespace tally {
namespace json = boost::json;

namespace {

std::string str(const json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v || !v->is_string()) throw std::invalid_argument(std::string(k) + " is not a string");
  return std::string(v->get_string());
}

// Ids never hold '/', '"', '\' or a space (they are components of store keys).
bool is_id(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (unsigned char c : s) {
    if (c <= ' ' || c > '~' || c == '/' || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

json::object insight_data(const insight_dismissed& e) {
  json::object o;
  o["team_id"] = e.team.str();
  o["insight_id"] = e.insight;
  o["by"] = e.by;
  return o;
}

insight_dismissed read_insight_dismissed(const json::object& o) {
  insight_dismissed e;
  e.team = team_id{str(o, "team_id")};
  e.insight = str(o, "insight_id");
  e.by = str(o, "by");
  if (!is_id(e.team.str())) throw std::invalid_argument("team_id is not an id");
  if (!is_id(e.insight)) throw std::invalid_argument("insight_id is not an id");
  return e;
}

}  // namespace tally
