// An in-memory ledger_gateway for handler tests: the live view over a ledger_state with no
// store. Appended events stay pending until deliver() folds them and reports them durable — or
// fail() reports the append failed — so tests control the order of answer and delivery.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "consumers/ledger_gateway.h"

namespace tally::testing {

class memory_ledger final : public ledger_gateway {
 public:
  team_access with_team(const team_id&, const std::function<void(live_view&)>& f) override {
    std::lock_guard lock(mu_);
    if (access_ != team_access::ok) return access_;
    f(live_);
    return team_access::ok;
  }
  void with_state(const std::function<void(live_view&)>& f) override {
    std::lock_guard lock(mu_);
    f(live_);
  }
  void append(const team_id&, std::vector<event> events, std::function<void(bool)> done,
              bool already_pending = false) override {
    if (!already_pending) {
      for (auto& e : events) live_.add_pending(e);
    }
    appended_.insert(appended_.end(), events.begin(), events.end());
    waiting_.push_back({std::move(events), std::move(done)});
  }
  bool ready() const override { return true; }

  // Reports the appends durable (or failed); a durable event is folded too unless fold is false
  // (the real fold comes a little after the acknowledgement).
  void deliver(bool ok = true, bool fold = true) {
    std::vector<std::pair<std::vector<event>, std::function<void(bool)>>> w;
    {
      std::lock_guard lock(mu_);
      w.swap(waiting_);
      for (auto& [events, done] : w) {
        if (ok && !fold) {
          unfolded_.insert(unfolded_.end(), events.begin(), events.end());
          continue;
        }
        for (auto& e : events) {
          if (ok) state_.apply(e);
          live_.remove_pending(e);
        }
      }
    }
    for (auto& [events, done] : w) done(ok);
  }
  void set_access(team_access a) { access_ = a; }
  const std::vector<event>& appended() const { return appended_; }
  ledger_state& state() { return state_; }

 private:
  std::mutex mu_;
  ledger_state state_;
  live_view live_{state_};
  team_access access_ = team_access::ok;
  std::vector<std::pair<std::vector<event>, std::function<void(bool)>>> waiting_;
  std::vector<event> appended_;
  std::vector<event> unfolded_;
};

}  // namespace tally::testing
