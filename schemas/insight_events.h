// InsightDismissed: someone hid an optimisation insight (projections/insights.h) for a team. A
// ledger event like AlertAcknowledged, so the dismissal survives a restart and a replay; its
// `data` codec here, the event variant in schemas/events.h.
// Thread-safety: values and pure functions.
#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "schemas/ids.h"

namespace tally {

struct insight_dismissed {
  team_id team;
  std::string insight;  // the insight's stable id, "<rule>:<agent>[:<model>]" (an id)
  std::string by;       // who dismissed it (key id or role)
  friend bool operator==(const insight_dismissed&, const insight_dismissed&) = default;
};

// {"team_id", "insight_id", "by"}, and back (std::invalid_argument when malformed).
boost::json::object insight_data(const insight_dismissed& e);
insight_dismissed read_insight_dismissed(const boost::json::object& o);

}  // namespace tally
