// The live stream hub without a server: the SSE text of each kind of event (golden strings), ids
// and the ring buffer, resumption (replay after Last-Event-ID, reset when it is too old or from
// another run), the team and type filters, and dropping a subscriber whose writer refuses
// (gone or overflowed) without holding up the others.
#include "api/live_stream.h"

#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

namespace tally::api {
namespace {

const time_ms t0 = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

// A writer that keeps what it is given; refuses once `capacity` chunks were taken.
struct sink final : stream_writer {
  explicit sink(std::size_t capacity = 1'000'000) : capacity(capacity) {}
  bool write(std::string chunk) override {
    std::lock_guard lock(mu);
    if (closed || chunks.size() >= capacity) return false;
    chunks.push_back(std::move(chunk));
    return true;
  }
  void close() override {
    std::lock_guard lock(mu);
    closed = true;
  }
  bool is_open() const override {
    std::lock_guard lock(mu);
    return !closed;
  }
  std::string text() const {
    std::lock_guard lock(mu);
    std::string s;
    for (auto& c : chunks) s += c;
    return s;
  }
  // The ids and event names of what was received: "1:usage 2:alert".
  std::string summary() const {
    std::string out, t = text();
    std::size_t at = 0;
    while ((at = t.find("id: ", at)) != std::string::npos) {
      auto nl = t.find('\n', at);
      std::string id = t.substr(at + 4, nl - at - 4);
      auto ev = t.find("event: ", nl);
      std::string name = t.substr(ev + 7, t.find('\n', ev) - ev - 7);
      out += (out.empty() ? "" : " ") + id + ":" + name;
      at = nl;
    }
    if (t.rfind("event: reset", 0) == 0) out = "reset" + (out.empty() ? "" : " " + out);
    return out;
  }
  mutable std::mutex mu;
  std::vector<std::string> chunks;
  std::size_t capacity;
  bool closed = false;
};

event usage(std::string id, std::string team, std::int64_t cost_nanos, bool recorded = true) {
  usage_decided u;
  u.team = team_id{team};
  u.agent = agent_id{"eng-1"};
  u.session = session_id{"ses_1"};
  u.model = "claude-sonnet-4-5";
  u.tokens = {2500, 800, 10, 20};
  u.cost = nanos{cost_nanos};
  u.occurred_at = t0;
  if (!recorded) u.reason = "over_budget";
  event e{event_id{id}, t0, "tally", usage_recorded{u}};
  if (!recorded) e.payload = usage_rejected{u};
  return e;
}

event session_end(std::string team, std::string session) {
  return {event_id{"end-" + session}, t0 + 1000, "tally",
          session_ended{team_id{team}, session_id{session}, session_status::completed}};
}

event crossing(std::string team) {
  budget_threshold_crossed c;
  c.team = team_id{team};
  c.kind = alert_scope_kind::team;
  c.scope_id = team;
  c.window = "day";
  c.period = "2026-11-23";
  c.threshold_percent = 80;
  c.level = "warning";
  c.limit = nanos{1'000'000'000};
  c.spent = nanos{812'345'678};
  c.message = "80% of the daily budget";
  c.at = t0;
  return {event_id{"al-1"}, t0, "tally", c};
}

event limits(std::string team) {
  limits_set l;
  l.team = team_id{team};
  l.scope = team.empty() ? limit_scope::global : limit_scope::team;
  l.scope_id = team;
  return {event_id{"lim-" + team}, t0, "tally", l};
}

live_hub_options opts(std::size_t ring = 100) {
  live_hub_options o;
  o.ring_capacity = ring;
  o.first_seq = 1;
  return o;
}

TEST(live_stream, each_kind_of_event_has_its_sse_text) {
  auto u = to_stream_event(usage("u-1", "acme", 12'345'678'901));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, stream_kind::usage);
  EXPECT_EQ(u->data, R"({"team_id":"acme","agent_id":"eng-1","session_id":"ses_1","task_id":null,)"
                     R"("model":"claude-sonnet-4-5","event_id":"u-1","status":"recorded",)"
                     R"("input_tokens":2500,"output_tokens":800,"cache_creation_tokens":10,)"
                     R"("cache_read_tokens":20,"cost_usd":12.345678901,"cost_nanos":12345678901,)"
                     R"("time":"2026-11-23T10:00:00.000Z"})");
  auto r = to_stream_event(usage("u-2", "acme", 5, false));
  EXPECT_NE(r->data.find(R"("status":"rejected")"), std::string::npos) << r->data;
  EXPECT_NE(r->data.find(R"("reason":"over_budget")"), std::string::npos) << r->data;

  live_hub_options o;
  o.agent_of_session = [](const team_id& t, const session_id& s) -> std::optional<agent_id> {
    if (t.str() == "acme" && s.str() == "ses_1") return agent_id{"eng-1"};
    return std::nullopt;
  };
  auto s = to_stream_event(session_end("acme", "ses_1"), o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, stream_kind::session);
  EXPECT_EQ(s->data, R"({"team_id":"acme","agent_id":"eng-1","session_id":"ses_1",)"
                     R"("status":"ended","time":"2026-11-23T10:00:01.000Z","reason":"completed"})");
  EXPECT_NE(to_stream_event(session_end("acme", "ses_9"), o)->data.find(R"("agent_id":null)"),
            std::string::npos);

  auto a = to_stream_event(crossing("acme"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->data,
            R"({"id":"al-1","team_id":"acme","type":"budget_threshold_crossed","level":"warning",)"
            R"("scope":{"kind":"team","id":"acme"},"window":"day","period":"2026-11-23",)"
            R"("threshold_percent":80,"message":"80% of the daily budget","limit_usd":1,)"
            R"("limit_nanos":1000000000,"spent_usd":0.812345678,"spent_nanos":812345678,)"
            R"("time":"2026-11-23T10:00:00.000Z"})");
  auto l = to_stream_event(limits("acme"));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, stream_kind::limits);
  EXPECT_EQ(l->data, R"({"team_id":"acme","what":"limits","time":"2026-11-23T10:00:00.000Z"})");
  EXPECT_FALSE(
      to_stream_event(event{event_id{"t"}, t0, "tally", team_created{team_id{"acme"}, "A"}}));
}

TEST(live_stream, subscribers_get_live_events_with_increasing_ids_and_nothing_else) {
  live_hub hub(opts());
  auto before = std::make_shared<sink>();
  hub.publish({usage("u-0", "acme", 1)});
  hub.sync();
  hub.subscribe({}, std::nullopt, before);  // no Last-Event-ID: only what comes next
  hub.publish({usage("u-1", "acme", 1),
               event{event_id{"t"}, t0, "tally", team_created{team_id{"beta"}, "B"}},
               crossing("acme")});
  hub.publish({usage("u-2", "beta", 1)});
  hub.sync();
  EXPECT_EQ(before->summary(), "2:usage 3:alert 4:usage");
  EXPECT_EQ(hub.last_id(), 4u);
  EXPECT_NE(before->text().find("id: 2\nevent: usage\ndata: {\"team_id\":\"acme\""),
            std::string::npos)
      << before->text();
}

TEST(live_stream, last_event_id_replays_what_the_ring_holds_or_resets) {
  live_hub hub(opts(3));
  for (int i = 1; i <= 5; ++i) hub.publish({usage("u-" + std::to_string(i), "acme", i)});
  hub.sync();  // the ring holds ids 3, 4, 5
  auto resume = [&](std::uint64_t last) {
    auto s = std::make_shared<sink>();
    hub.subscribe({}, last, s);
    return s->summary();
  };
  EXPECT_EQ(resume(3), "4:usage 5:usage");
  EXPECT_EQ(resume(2), "3:usage 4:usage 5:usage");  // nothing lost after 2
  EXPECT_EQ(resume(5), "");
  EXPECT_EQ(resume(1), "reset");   // 2 is gone
  EXPECT_EQ(resume(99), "reset");  // not an id of this run
  // Resumed subscribers then follow live events.
  auto s = std::make_shared<sink>();
  hub.subscribe({}, 4, s);
  hub.publish({usage("u-6", "acme", 6)});
  hub.sync();
  EXPECT_EQ(s->summary(), "5:usage 6:usage");
}

// The ring keeps the newest entries whatever the size of the publishes that brought them:
// part of a batch may go while the rest stays, and events not streamed take no place.
TEST(live_stream, the_ring_keeps_the_newest_events_across_and_within_batches) {
  live_hub hub(opts(3));
  const event unstreamed{event_id{"team"}, t0, "tally", team_created{}};
  hub.publish({usage("u-1", "acme", 1), unstreamed, usage("u-2", "acme", 2)});
  hub.publish({unstreamed});
  hub.publish({usage("u-3", "acme", 3), usage("u-4", "acme", 4), unstreamed});
  hub.sync();  // the ring holds ids 2, 3, 4: the first batch's second event stays
  auto resume = [&](std::uint64_t last) {
    auto s = std::make_shared<sink>();
    hub.subscribe({}, last, s);
    return s->text();
  };
  EXPECT_NE(resume(1).find(R"("event_id":"u-2")"), std::string::npos);
  EXPECT_EQ(resume(0), "event: reset\ndata: {}\n\n");
  hub.publish({usage("u-5", "acme", 5), usage("u-6", "acme", 6), usage("u-7", "acme", 7),
               usage("u-8", "acme", 8)});
  hub.sync();  // one batch larger than the ring: its last three
  auto s = std::make_shared<sink>();
  hub.subscribe({}, 5, s);
  EXPECT_EQ(s->summary(), "6:usage 7:usage 8:usage");
  EXPECT_NE(s->text().find(R"("event_id":"u-6")"), std::string::npos);
  EXPECT_EQ(resume(4), "event: reset\ndata: {}\n\n");
}

// With nobody subscribed the hub keeps events unformatted; a resuming subscriber must get
// the very texts a live one got.
TEST(live_stream, events_kept_while_nobody_listens_replay_as_live_ones_were_streamed) {
  const std::vector<event> events = {usage("u-1", "acme", 1), crossing("acme"), limits("acme"),
                                     session_end("acme", "ses_1"), usage("u-2", "acme", 2, false)};
  live_hub listened(opts());
  auto live = std::make_shared<sink>();
  listened.subscribe({}, std::nullopt, live);
  listened.publish(events);
  listened.sync();

  live_hub unheard(opts());
  unheard.publish(events);
  unheard.sync();
  auto resumed = std::make_shared<sink>();
  unheard.subscribe({}, 0, resumed);  // everything after id 0: the whole ring

  EXPECT_EQ(live->summary(), "1:usage 2:alert 3:limits 4:session 5:usage");
  EXPECT_EQ(resumed->text(), live->text());
}

TEST(live_stream, an_id_of_an_earlier_run_is_older_than_the_ring) {
  live_hub hub;  // first_seq from the wall clock
  hub.publish({usage("u-1", "acme", 1)});
  hub.sync();
  EXPECT_GT(hub.last_id(), 1'700'000'000'000'000u);
  auto s = std::make_shared<sink>();
  hub.subscribe({}, 12, s);  // what a previous process (or a restarted counter) gave out
  EXPECT_EQ(s->summary(), "reset");
}

TEST(live_stream, filters_keep_a_team_and_its_chosen_types) {
  live_hub hub(opts());
  auto acme = std::make_shared<sink>();
  auto acme_alerts = std::make_shared<sink>();
  auto org = std::make_shared<sink>();
  hub.subscribe({.team = team_id{"acme"}}, std::nullopt, acme);
  hub.subscribe({.team = team_id{"acme"}, .kinds = *parse_stream_types("alert,limits")},
                std::nullopt, acme_alerts);
  hub.subscribe({}, std::nullopt, org);
  hub.publish({usage("u-1", "acme", 1), usage("u-2", "beta", 2), crossing("beta"), crossing("acme"),
               limits(""), session_end("beta", "s")});
  hub.sync();
  EXPECT_EQ(acme->summary(), "1:usage 4:alert 5:limits");  // the org's limits concern all
  EXPECT_EQ(acme_alerts->summary(), "4:alert 5:limits");
  EXPECT_EQ(org->summary(), "1:usage 2:usage 3:alert 4:alert 5:limits 6:session");
  EXPECT_EQ(acme->text().find("beta"), std::string::npos);
  // A replay is filtered the same way.
  auto late = std::make_shared<sink>();
  hub.subscribe({.team = team_id{"beta"}, .kinds = *parse_stream_types("usage")}, 0, late);
  EXPECT_EQ(late->summary(), "2:usage");
}

TEST(live_stream, types_parse_or_are_refused) {
  EXPECT_EQ(parse_stream_types("usage"), 1u);
  EXPECT_EQ(parse_stream_types("usage,alert"), 5u);
  EXPECT_EQ(parse_stream_types("limits,session,alert,usage"), all_stream_kinds);
  EXPECT_FALSE(parse_stream_types(""));
  EXPECT_FALSE(parse_stream_types("usage,"));
  EXPECT_FALSE(parse_stream_types("usage,bogus"));
}

TEST(live_stream, a_subscriber_that_refuses_a_write_is_dropped_and_the_others_go_on) {
  live_hub hub(opts());
  auto slow = std::make_shared<sink>(2);  // its queue holds two
  auto fast = std::make_shared<sink>();
  hub.subscribe({}, std::nullopt, slow);
  hub.subscribe({}, std::nullopt, fast);
  EXPECT_EQ(hub.subscribers(), 2u);
  std::vector<event> burst;
  for (int i = 0; i < 5; ++i) burst.push_back(usage("u-" + std::to_string(i), "acme", i));
  hub.publish(burst);
  hub.sync();
  EXPECT_EQ(slow->summary(), "1:usage 2:usage");
  EXPECT_EQ(fast->summary(), "1:usage 2:usage 3:usage 4:usage 5:usage");
  EXPECT_EQ(hub.subscribers(), 1u);  // the slow one is gone: its connection ends its stream
  hub.publish({usage("u-9", "acme", 9)});
  hub.sync();
  EXPECT_EQ(slow->chunks.size(), 2u);
}

TEST(live_stream, unsubscribe_and_destruction_close_what_is_left) {
  auto a = std::make_shared<sink>();
  auto b = std::make_shared<sink>();
  {
    live_hub hub(opts());
    auto id = hub.subscribe({}, std::nullopt, a);
    hub.subscribe({}, std::nullopt, b);
    hub.unsubscribe(id);
    hub.publish({usage("u-1", "acme", 1)});
    hub.sync();
    EXPECT_EQ(a->summary(), "");
    EXPECT_EQ(b->summary(), "1:usage");
  }
  EXPECT_FALSE(b->is_open());
}

}  // namespace
}  // namespace tally::api
