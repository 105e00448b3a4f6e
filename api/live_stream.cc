// The hub's data (one line of JSON per event):
//   usage   {team_id, agent_id, session_id, task_id, model, event_id, status, input_tokens,
//            output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, cost_nanos,
//            time[, reason]}
//   session {team_id, agent_id, session_id, status (active|queued|ended|terminated), time
//            [, task_id, model][, reason]}
//   alert   {id, team_id, type, level, scope {kind, id}, window, period, threshold_percent,
//            message, limit_usd, limit_nanos, spent_usd, spent_nanos, time[, reason][, by]}
//   limits  {team_id, what (limits|alerts), time}
// Money as every answer of the API gives it (json_writer::money: exact decimal and nanos).
#include "api/live_stream.h"

#include <pthread.h>
#include <chrono>
#include <type_traits>
#include <variant>

#include "api/json_writer.h"

namespace tally::api {
namespace {

void id_or_null(json_writer& w, std::string_view k, const std::string& v) {
  if (v.empty()) {
    w.key(k).null();
  } else {
    w.field(k, v);
  }
}

std::string usage_data(const event& e, const usage_decided& u, bool recorded) {
  json_writer w;
  w.begin_object();
  w.field("team_id", u.team.str());
  w.field("agent_id", u.agent.str());
  id_or_null(w, "session_id", u.session.str());
  id_or_null(w, "task_id", u.task.str());
  w.field("model", u.model);
  w.field("event_id", e.id.str());
  w.field("status", recorded ? "recorded" : "rejected");
  w.field("input_tokens", u.tokens.input).field("output_tokens", u.tokens.output);
  w.field("cache_creation_tokens", u.tokens.cache_creation);
  w.field("cache_read_tokens", u.tokens.cache_read);
  w.money("cost", u.cost);
  w.field("time", format_rfc3339(e.time));
  if (!u.reason.empty()) w.field("reason", u.reason);
  w.end_object();
  return w.take();
}

std::string session_data(const event& e, const team_id& team, const std::optional<agent_id>& agent,
                         const session_id& s, std::string_view status, std::string_view reason,
                         const session_opened* opened) {
  json_writer w;
  w.begin_object();
  w.field("team_id", team.str());
  if (agent) {
    w.field("agent_id", agent->str());
  } else {
    w.key("agent_id").null();
  }
  w.field("session_id", s.str());
  w.field("status", status);
  w.field("time", format_rfc3339(e.time));
  if (opened) {
    id_or_null(w, "task_id", opened->task.str());
    w.field("model", opened->model);
  }
  if (!reason.empty()) w.field("reason", reason);
  w.end_object();
  return w.take();
}

std::string alert_data(const event& e, const alert_subject& a, const event_id& id,
                       std::string_view type, std::string_view message, std::string_view reason) {
  json_writer w;
  w.begin_object();
  w.field("id", id.str());
  id_or_null(w, "team_id", a.team.str());
  w.field("type", type);
  w.field("level", a.level);
  w.key("scope").begin_object();
  w.field("kind", to_string(a.kind)).field("id", a.scope_id);
  w.end_object();
  w.field("window", a.window).field("period", a.period);
  w.field("threshold_percent", a.threshold_percent);
  w.field("message", message);
  w.money("limit", a.limit).money("spent", a.spent);
  w.field("time", format_rfc3339(e.time));
  if (!reason.empty()) w.field("reason", reason);
  w.end_object();
  return w.take();
}

std::string limits_data(const event& e, const team_id& team, std::string_view what) {
  json_writer w;
  w.begin_object();
  id_or_null(w, "team_id", team.str());
  w.field("what", what);
  w.field("time", format_rfc3339(e.time));
  w.end_object();
  return w.take();
}

// Whether the hub streams an event at all: checked on the owner thread, so it only looks at
// the variant's alternative.
// Formatting them needs the hub's callbacks (agent_of_session): done on the hub's thread, at once.
bool needs_callbacks(const event& e) {
  return std::holds_alternative<session_ended>(e.payload) ||
         std::holds_alternative<session_terminated>(e.payload) ||
         std::holds_alternative<session_activated>(e.payload);
}

std::string sse_text(std::uint64_t seq, stream_kind kind, const std::string& data) {
  return "id: " + std::to_string(seq) + "\nevent: " + std::string(to_string(kind)) +
         "\ndata: " + data + "\n\n";
}

std::uint64_t wall_us() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

std::string_view to_string(stream_kind k) {
  switch (k) {
    case stream_kind::usage:
      return "usage";
    case stream_kind::session:
      return "session";
    case stream_kind::alert:
      return "alert";
    case stream_kind::limits:
      return "limits";
  }
  return "?";
}

std::optional<unsigned> parse_stream_types(std::string_view list) {
  unsigned out = 0;
  for (bool more = true; more;) {
    auto comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) list = list.substr(comma + 1);
    bool known = false;
    for (auto k :
         {stream_kind::usage, stream_kind::session, stream_kind::alert, stream_kind::limits}) {
      if (name == to_string(k)) {
        out |= static_cast<unsigned>(k);
        known = true;
      }
    }
    if (!known) return std::nullopt;
  }
  if (out == 0) return std::nullopt;
  return out;
}

std::optional<std::pair<stream_kind, team_id>> stream_target(const event& e) {
  return std::visit(
      [](const auto& p) -> std::optional<std::pair<stream_kind, team_id>> {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, usage_recorded> || std::is_same_v<T, usage_rejected>) {
          return std::pair{stream_kind::usage, p.team};
        } else if constexpr (std::is_same_v<T, session_opened> ||
                             std::is_same_v<T, session_ended> ||
                             std::is_same_v<T, session_terminated> ||
                             std::is_same_v<T, session_activated>) {
          return std::pair{stream_kind::session, p.team};
        } else if constexpr (std::is_same_v<T, budget_threshold_crossed> ||
                             std::is_same_v<T, budget_threshold_resolved> ||
                             std::is_same_v<T, alert_acknowledged>) {
          return std::pair{stream_kind::alert, p.team};
        } else if constexpr (std::is_same_v<T, limits_set> ||
                             std::is_same_v<T, alert_thresholds_set>) {
          return std::pair{stream_kind::limits, p.team};
        } else {
          return std::nullopt;
        }
      },
      e.payload);
}

std::optional<stream_event> to_stream_event(const event& e, const live_hub_options& opt) {
  auto agent_of = [&](const team_id& t, const session_id& s) -> std::optional<agent_id> {
    if (!opt.agent_of_session) return std::nullopt;
    return opt.agent_of_session(t, s);
  };
  const auto& p = e.payload;
  if (auto* u = std::get_if<usage_recorded>(&p)) {
    return stream_event{stream_kind::usage, u->team, usage_data(e, *u, true)};
  }
  if (auto* u = std::get_if<usage_rejected>(&p)) {
    return stream_event{stream_kind::usage, u->team, usage_data(e, *u, false)};
  }
  if (auto* s = std::get_if<session_opened>(&p)) {
    return stream_event{
        stream_kind::session, s->team,
        session_data(e, s->team, s->agent, s->session, s->queued ? "queued" : "active", "", s)};
  }
  if (auto* s = std::get_if<session_ended>(&p)) {
    const bool terminated = s->status == session_status::terminated;
    return stream_event{
        stream_kind::session, s->team,
        session_data(e, s->team, agent_of(s->team, s->session), s->session,
                     terminated ? "terminated" : "ended", to_string(s->status), nullptr)};
  }
  if (auto* s = std::get_if<session_terminated>(&p)) {
    return stream_event{stream_kind::session, s->team,
                        session_data(e, s->team, agent_of(s->team, s->session), s->session,
                                     "terminated", s->reason, nullptr)};
  }
  if (auto* s = std::get_if<session_activated>(&p)) {
    return stream_event{
        stream_kind::session, s->team,
        session_data(e, s->team, agent_of(s->team, s->session), s->session, "active", "", nullptr)};
  }
  if (auto* a = std::get_if<budget_threshold_crossed>(&p)) {
    return stream_event{stream_kind::alert, a->team,
                        alert_data(e, *a, e.id, "budget_threshold_crossed", a->message, "")};
  }
  if (auto* a = std::get_if<budget_threshold_resolved>(&p)) {
    return stream_event{stream_kind::alert, a->team,
                        alert_data(e, *a, a->alert, "budget_threshold_resolved", "", a->reason)};
  }
  if (auto* a = std::get_if<alert_acknowledged>(&p)) {
    json_writer w;
    w.begin_object();
    w.field("id", a->alert.str());
    w.field("team_id", a->team.str());
    w.field("type", "alert_acknowledged");
    w.field("by", a->by);
    w.field("time", format_rfc3339(e.time));
    w.end_object();
    return stream_event{stream_kind::alert, a->team, w.take()};
  }
  if (auto* l = std::get_if<limits_set>(&p)) {
    return stream_event{stream_kind::limits, l->team, limits_data(e, l->team, "limits")};
  }
  if (auto* t = std::get_if<alert_thresholds_set>(&p)) {
    return stream_event{stream_kind::limits, t->team, limits_data(e, t->team, "alerts")};
  }
  return std::nullopt;
}

live_hub::live_hub(live_hub_options options)
    : options_(std::move(options)), next_seq_(options_.first_seq ? options_.first_seq : wall_us()) {
  if (options_.ring_capacity == 0) options_.ring_capacity = 1;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tally-live");
    run();
  });
}

live_hub::~live_hub() {
  {
    std::lock_guard lock(inbox_mu_);
    stop_ = true;
  }
  inbox_cv_.notify_all();
  thread_.join();
  std::map<std::uint64_t, subscriber> left;
  {
    std::lock_guard lock(mu_);
    left.swap(subscribers_);
  }
  for (auto& [_, s] : left) s.out->close();
}

void live_hub::publish(std::vector<event> folded) {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.push_back(std::move(folded));
    ++published_;
  }
  inbox_cv_.notify_one();
}

void live_hub::format(entry& e, const chunk& c) {
  if (e.raw == formatted) return;
  auto f = to_stream_event(c.events[e.raw]);
  e.text = sse_text(e.seq, e.kind, f ? f->data : std::string("{}"));
  e.raw = formatted;
}

bool live_hub::wants(const stream_filter& f, const entry& e) {
  if ((f.kinds & static_cast<unsigned>(e.kind)) == 0) return false;
  return !f.team || e.team.empty() || e.team == *f.team;
}

void live_hub::run() {
  std::vector<std::vector<event>> batches;
  std::vector<chunk> chunks;
  for (;;) {
    std::uint64_t taken = 0;
    {
      std::unique_lock lock(inbox_mu_);
      inbox_cv_.wait(lock, [&] { return stop_ || published_ != taken_; });
      if (stop_) return;
      batches.swap(inbox_);
      taken = taken_ = published_;
    }
    // Formatting happens here, outside both locks. With nobody subscribed, the events that
    // need no callback are kept as they are and formatted if a resuming subscriber asks for
    // them (most of a busy ledger's events are never streamed to anyone). Until its sequence
    // number is known under the lock, a formatted entry's text holds its data alone.
    bool live = false;
    {
      std::lock_guard lock(mu_);
      live = !subscribers_.empty();
    }
    for (auto& events : batches) {
      chunk c;
      c.events = std::move(events);
      for (std::uint32_t i = 0; i < c.events.size(); ++i) {
        const event& e = c.events[i];
        auto t = stream_target(e);
        if (!t) continue;
        entry& en = c.entries.emplace_back(entry{0, t->first, std::move(t->second), {}, i});
        if (live || needs_callbacks(e)) {
          auto f = to_stream_event(e, options_);
          en.text = f ? std::move(f->data) : std::string("{}");
          en.raw = formatted;
        }
      }
      if (!c.entries.empty()) chunks.push_back(std::move(c));
    }
    batches.clear();
    std::lock_guard lock(mu_);
    for (auto& c : chunks) {
      for (auto& en : c.entries) {
        en.seq = next_seq_++;
        if (en.raw == formatted) en.text = sse_text(en.seq, en.kind, en.text);
        if (subscribers_.empty()) continue;
        format(en, c);
        for (auto it = subscribers_.begin(); it != subscribers_.end();) {
          if (wants(it->second.filter, en) && !it->second.out->write(en.text)) {
            it = subscribers_.erase(it);  // gone or overflowed: its connection ends the stream
          } else {
            ++it;
          }
        }
      }
      ring_size_ += c.entries.size();
      ring_.push_back(std::move(c));
      // Only the newest ring_capacity entries stay; a chunk goes once none of its entries do.
      while (ring_size_ > options_.ring_capacity) {
        const std::size_t left = ring_.front().entries.size() - ring_skip_;
        const std::size_t drop = std::min(left, ring_size_ - options_.ring_capacity);
        ring_size_ -= drop;
        ring_skip_ += drop;
        if (ring_skip_ == ring_.front().entries.size()) {
          ring_.pop_front();
          ring_skip_ = 0;
        }
      }
    }
    chunks.clear();
    processed_ = taken;
    done_cv_.notify_all();
  }
}

std::uint64_t live_hub::subscribe(stream_filter filter, std::optional<std::uint64_t> last_id,
                                  std::shared_ptr<stream_writer> out) {
  std::lock_guard lock(mu_);
  std::string replay;
  if (last_id) {
    const std::uint64_t oldest = ring_.empty() ? next_seq_ : ring_.front().entries[ring_skip_].seq;
    // Events after last_id are gone (or last_id was never given out): the client reloads.
    if (*last_id + 1 < oldest || *last_id >= next_seq_) {
      replay = std::string(sse_reset);
    } else {
      for (std::size_t k = 0; k < ring_.size(); ++k) {
        auto& c = ring_[k];
        for (std::size_t i = k == 0 ? ring_skip_ : 0; i < c.entries.size(); ++i) {
          auto& e = c.entries[i];
          if (e.seq > *last_id && wants(filter, e)) {
            format(e, c);
            replay += e.text;
          }
        }
      }
    }
  }
  // One chunk: the server's queue always takes a chunk when it is empty, so a long replay does
  // not overflow it.
  if (!replay.empty() && !out->write(std::move(replay))) return 0;
  const std::uint64_t id = next_subscription_++;
  subscribers_.emplace(id, subscriber{std::move(filter), std::move(out)});
  return id;
}

void live_hub::unsubscribe(std::uint64_t subscription) {
  std::lock_guard lock(mu_);
  subscribers_.erase(subscription);
}

std::size_t live_hub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

std::uint64_t live_hub::last_id() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

void live_hub::sync() {
  std::uint64_t target = 0;
  {
    std::lock_guard lock(inbox_mu_);
    target = published_;
  }
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return processed_ >= target; });
}

}  // namespace tally::api
