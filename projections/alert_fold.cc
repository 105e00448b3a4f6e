// The fold of the alert events (a part of ledger_state::apply): the feed row, the alert state,
// the latest period with a crossing, the thresholds, and the outbox row of every crossing and
// resolution, all in the same drained batch as the rest of the fold. The outbox sequence lives
// in the meta column. Duplicates never get here (apply deduplicates by team and event id); a
// crossing of the global scope decided by two teams' partitions is written once (by id).
#include <cstdio>

#include <boost/json.hpp>

#include "projections/ledger_state.h"
#include "projections/thresholds.h"

namespace tally {
namespace json = boost::json;

namespace {

std::string padded(std::int64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(v < 0 ? 0 : v));
  return buf;
}

std::string state_json(std::int64_t occurrence, bool active) {
  json::object o;
  o["occurrence"] = occurrence;
  o["active"] = active;
  return json::serialize(o);
}

}  // namespace

void ledger_state::apply_alert(const event& e) {
  auto outbox = [&] {
    const std::int64_t seq = meta_i64("outbox/next").value_or(0);
    set_meta_i64("outbox/next", seq + 1);
    put(column::outbox, padded(seq, 20), encode_event(e));
  };
  auto feed_key_of = [&](const event_id& id) -> std::optional<std::string> {
    auto& r = load(column::entities, "alertid/" + id.str());
    if (!r.present) return std::nullopt;
    return r.value;
  };
  if (auto* c = std::get_if<budget_threshold_crossed>(&e.payload)) {
    if (feed_key_of(e.id)) return;
    alert_row row;
    row.crossed = *c;
    row.id = e.id;
    const std::string key = "alert/" + padded(c->at, 13) + "/" + e.id.str();
    put(column::entities, key, encode_alert_row(row));
    put(column::entities, "alertid/" + e.id.str(), key);
    put(column::entities, "alertstate/" + alert_base_id(*c), state_json(c->occurrence, true));
    if (c->window == "day" || c->window == "month") {
      const std::string last = "alertlast/" + alert_scope_key(*c) + "/" + c->window;
      auto& r = load(column::entities, last);
      if (!r.present || r.value < c->period) put(column::entities, last, c->period);
    }
    outbox();
  } else if (auto* x = std::get_if<budget_threshold_resolved>(&e.payload)) {
    const std::string state_key = "alertstate/" + alert_base_id(*x);
    auto& st = load(column::entities, state_key);
    if (st.present && st.value == state_json(x->occurrence, false)) return;  // by another team
    put(column::entities, state_key, state_json(x->occurrence, false));
    if (auto key = feed_key_of(x->alert)) {
      auto& r = load(column::entities, *key);
      if (auto row = r.present ? decode_alert_row(r.value) : std::nullopt; row && !row->resolved) {
        row->resolved = true;
        row->resolved_at = e.time;
        row->resolved_reason = x->reason;
        put(column::entities, *key, encode_alert_row(*row));
      }
    }
    outbox();
  } else if (auto* a = std::get_if<alert_acknowledged>(&e.payload)) {
    if (auto key = feed_key_of(a->alert)) {
      auto& r = load(column::entities, *key);
      if (auto row = r.present ? decode_alert_row(r.value) : std::nullopt;
          row && !row->acknowledged) {
        row->acknowledged = true;
        row->acknowledged_at = e.time;
        row->acknowledged_by = a->by;
        put(column::entities, *key, encode_alert_row(*row));
      }
    }
  } else if (auto* t = std::get_if<alert_thresholds_set>(&e.payload)) {
    put(column::entities, t->team.empty() ? "alertcfg/g" : "alertcfg/t/" + t->team.str(),
        json::serialize(thresholds_json(t->thresholds, t->notifications)));
  }
}

}  // namespace tally
