// What the HTTP front-end needs from the node's ledger: decide or read against the live state of
// a team it owns, read org-wide, and append a decision's events with a callback once durable.
// The partition owner implements it over Kafka; tests implement it in memory, so handlers are
// tested without a broker.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "projections/decide.h"

namespace tally {

enum class team_access { ok, not_owner, catching_up };

class ledger_gateway {
 public:
  virtual ~ledger_gateway() = default;
  // Runs f(live) under the state lock when this node may decide for the team.
  virtual team_access with_team(const team_id& team, const std::function<void(live_view&)>& f) = 0;
  // Runs f(live) under the state lock (org-wide reads).
  virtual void with_state(const std::function<void(live_view&)>& f) = 0;
  // Inside with_team's f: appends the events in order and adds them to the live view; done(ok)
  // runs, maybe on another thread, once all are durable (acks=all) or one failed. The events
  // are handed over (the partition owner writes them on a thread of its own).
  // already_pending: the caller added the events to the live view itself as it decided them
  // (a batch, where each decision sees those before it): they are not added again. The
  // partition owner's live view writes through (projections/decide.h): an event the producer
  // does not take stays in the state, and the owner stops.
  virtual void append(const team_id& team, std::vector<event> events,
                      std::function<void(bool)> done, bool already_pending = false) = 0;
  // True when every owned partition has been folded up to its high watermark at assignment.
  virtual bool ready() const = 0;
};

}  // namespace tally
