// The live stream hub behind GET /api/v1/stream: the fold publishes the events of each flush,
// the hub turns the ones a dashboard shows (usage, session, alert, limits) into Server-Sent
// Events, numbers them, keeps the last ring_capacity of them for resumption (Last-Event-ID) and
// writes each to the subscribers whose filter takes it.
//
// Operation: publish() (the owner thread, after the WriteBatch is committed) moves the flush's
// events into an inbox under a lock of its own and wakes the hub's thread; that thread keeps them
// as one chunk, numbers the ones it streams (entries pointing into the chunk), formats their SSE
// text when someone listens (else when a resuming subscriber asks), writes it to the matching
// subscribers' stream writers and keeps the newest ring_capacity entries (a chunk stays, with
// every event of its flush, while one of its entries does). Neither the fold nor a
// subscriber waits for another subscriber: a writer's queue is bounded by the HTTP server, and a
// subscriber whose write is refused (gone, or overflowed) is dropped.
//
// Concurrency: every member is safe from any thread. publish() takes only the inbox lock;
// subscribe() / unsubscribe() and the hub thread take the hub lock (a writer's write() never
// calls back into the hub).
//
// Ids: `id:` is the hub's sequence number, starting at first_seq (by default the wall clock in
// µs at start, so an id from an earlier process is older than anything held and gets `reset`).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/http_types.h"
#include "schemas/events.h"

namespace tally::api {

// The kinds of stream events, as a bit set for filters.
enum class stream_kind : unsigned { usage = 1, session = 2, alert = 4, limits = 8 };
inline constexpr unsigned all_stream_kinds = 15;
std::string_view to_string(stream_kind k);
// "usage,alert" -> the bit set; nullopt when a name is unknown or the list is empty.
std::optional<unsigned> parse_stream_types(std::string_view list);

// What one subscriber sees.
struct stream_filter {
  std::optional<team_id> team;        // nullopt: every team (org-wide callers only)
  unsigned kinds = all_stream_kinds;  // bits of stream_kind
};

struct live_hub_options {
  std::size_t ring_capacity = 10'000;  // events kept for Last-Event-ID
  // The first sequence number; 0: the wall clock in microseconds at construction.
  std::uint64_t first_seq = 0;
  // The agent of a session, for session events that do not name it (ended, terminated,
  // activated). Called on the hub's thread; may be empty (agent_id is then null).
  std::function<std::optional<agent_id>(const team_id&, const session_id&)> agent_of_session;
};

// The SSE texts of the hub's own control events.
inline constexpr std::string_view sse_reset = "event: reset\ndata: {}\n\n";
inline constexpr std::string_view sse_overflow = "event: overflow\ndata: {}\n\n";
inline constexpr std::string_view sse_heartbeat = ": ping\n\n";

// The stream event of a ledger event ("usage", {...}), nullopt for the events not streamed.
struct stream_event {
  stream_kind kind;
  team_id team;      // empty: global (limits of the org), seen by every subscriber
  std::string data;  // one-line JSON
};
std::optional<stream_event> to_stream_event(const event& e, const live_hub_options& opt = {});
// Its kind and team alone (no formatting), nullopt for the events not streamed.
std::optional<std::pair<stream_kind, team_id>> stream_target(const event& e);

class live_hub {
 public:
  explicit live_hub(live_hub_options options = {});
  ~live_hub();  // stops the thread; subscribers' writers are closed
  live_hub(const live_hub&) = delete;
  live_hub& operator=(const live_hub&) = delete;

  // The owner thread, after a flush: never blocks on subscribers. Keeps the events it streams.
  void publish(std::vector<event> folded);

  // Replays what the ring holds after `last_id` (everything newer than it; `reset` first when
  // events after it are no longer held, or the id is from the future), then streams live
  // events. Returns the subscription, for unsubscribe().
  std::uint64_t subscribe(stream_filter filter, std::optional<std::uint64_t> last_id,
                          std::shared_ptr<stream_writer> out);
  void unsubscribe(std::uint64_t subscription);

  std::size_t subscribers() const;
  // The id of the newest event (first_seq - 1 when none).
  std::uint64_t last_id() const;
  // Waits until everything published before the call is in the ring and written (tests).
  void sync();

 private:
  // A streamed event: formatted (text) or, when nobody was subscribed as it came, the index
  // of its raw event in its chunk, formatted if a resuming subscriber asks for it.
  static constexpr std::uint32_t formatted = UINT32_MAX;
  struct entry {
    std::uint64_t seq;
    stream_kind kind;
    team_id team;                   // empty: global
    std::string text;               // "id: ..\nevent: ..\ndata: ..\n\n" once formatted
    std::uint32_t raw = formatted;  // index in its chunk's events while not formatted
  };
  // The events of one publish(), kept whole while any of its entries is in the ring: a
  // batch's events are moved once, not one by one.
  struct chunk {
    std::vector<event> events;
    std::vector<entry> entries;
  };
  struct subscriber {
    stream_filter filter;
    std::shared_ptr<stream_writer> out;
  };
  static bool wants(const stream_filter& f, const entry& e);
  // Sets text from the raw event (no callbacks: see needs_callbacks).
  static void format(entry& e, const chunk& c);
  void run();

  live_hub_options options_;

  std::mutex inbox_mu_;  // guards inbox_, stop_, published_, taken_
  std::condition_variable inbox_cv_;
  std::vector<std::vector<event>> inbox_;
  std::uint64_t published_ = 0;  // batches handed to publish()
  std::uint64_t taken_ = 0;      // batches the thread took from the inbox
  bool stop_ = false;

  mutable std::mutex mu_;  // guards the rest
  std::condition_variable done_cv_;
  std::uint64_t processed_ = 0;  // batches in the ring
  std::deque<chunk> ring_;       // oldest first; every chunk holds at least one live entry
  std::size_t ring_skip_ = 0;    // entries of the first chunk already dropped from the ring
  std::size_t ring_size_ = 0;    // entries in the ring
  std::uint64_t next_seq_;
  std::uint64_t next_subscription_ = 1;
  std::map<std::uint64_t, subscriber> subscribers_;

  std::thread thread_;
};

}  // namespace tally::api
