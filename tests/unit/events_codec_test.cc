// The event codec: every ledger payload survives encode -> decode with all its fields, bad
// records are refused with a precise error (never an exception), and raw usage reports are read
// in both token shapes with exact money.
#include "schemas/events.h"

#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace tally {
namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};

std::string opt(const std::optional<nanos>& v) {
  return v ? std::to_string(v->count) : "none";
}
std::string opt(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : "none";
}

std::string tokens_of(const token_counts& t) {
  return std::to_string(t.input) + "/" + std::to_string(t.output) + "/" +
         std::to_string(t.cache_creation) + "/" + std::to_string(t.cache_read);
}

// Every field of an event, from the C++ value (independent of the codec).
std::string describe(const event& e) {
  std::ostringstream o;
  o << "id=" << e.id.str() << " time=" << e.time << " source=" << e.source
    << " type=" << event_type_name(e.payload) << " |";
  std::visit(
      overloaded{
          [&](const team_created& p) {
            o << " team=" << p.team.str() << " name=" << p.name << " tz=" << p.timezone;
          },
          [&](const agent_registered& p) {
            o << " team=" << p.team.str() << " agent=" << p.agent.str() << " name=" << p.name
              << " type=" << p.type;
          },
          [&](const task_created& p) {
            o << " team=" << p.team.str() << " task=" << p.task.str() << " title=" << p.title
              << " priority=" << p.priority << " task_type=" << p.task_type << " tags=";
            for (auto& t : p.tags) o << "[" << t << "]";
            o << " budget=" << opt(p.budget);
          },
          [&](const limits_set& p) {
            const auto& l = p.limits;
            o << " team=" << p.team.str() << " scope=" << static_cast<int>(p.scope)
              << " scope_id=" << p.scope_id << " day=" << opt(l.cost_per_day)
              << " month=" << opt(l.cost_per_month) << " run=" << opt(l.cost_per_run)
              << " tday=" << opt(l.tokens_per_day) << " tmonth=" << opt(l.tokens_per_month)
              << " trun=" << opt(l.tokens_per_run) << " conc=" << opt(l.max_concurrent_sessions);
          },
          [&](const session_opened& p) {
            o << " team=" << p.team.str() << " agent=" << p.agent.str()
              << " session=" << p.session.str() << " task=" << p.task.str() << " model=" << p.model
              << " effort=" << p.effort << " queued=" << p.queued;
          },
          [&](const session_activated& p) {
            o << " team=" << p.team.str() << " session=" << p.session.str();
          },
          [&](const reservation_held& p) {
            o << " team=" << p.team.str() << " rsv=" << p.reservation
              << " session=" << p.session.str() << " agent=" << p.agent.str()
              << " task=" << p.task.str() << " amount=" << p.amount.count
              << " expires=" << p.expires_at << " hash=" << p.request_hash;
          },
          [&](const reservation_released& p) {
            o << " team=" << p.team.str() << " rsv=" << p.reservation
              << " session=" << p.session.str() << " reason=" << p.reason
              << " actual=" << opt(p.actual) << " usage=" << p.usage_event.str();
          },
          [&](const session_ended& p) {
            o << " team=" << p.team.str() << " session=" << p.session.str()
              << " status=" << to_string(p.status);
          },
          [&](const session_terminated& p) {
            o << " team=" << p.team.str() << " session=" << p.session.str()
              << " reason=" << p.reason;
          },
          [&](const budget_threshold_crossed& p) {
            o << " " << boost::json::serialize(alert_data(p));
          },
          [&](const budget_threshold_resolved& p) {
            o << " " << boost::json::serialize(alert_data(p));
          },
          [&](const alert_acknowledged& p) { o << " " << boost::json::serialize(alert_data(p)); },
          [&](const alert_thresholds_set& p) { o << " " << boost::json::serialize(alert_data(p)); },
          [&](const insight_dismissed& p) {
            o << " team=" << p.team.str() << " insight=" << p.insight << " by=" << p.by;
          },
          [&](const usage_decided& p) {
            o << " team=" << p.team.str() << " agent=" << p.agent.str()
              << " session=" << p.session.str() << " task=" << p.task.str() << " model=" << p.model
              << " effort=" << p.effort << " tokens=" << tokens_of(p.tokens)
              << " cost=" << p.cost.count << " source=" << to_string(p.source)
              << " price=" << p.price_version << " at=" << p.occurred_at << " day=" << p.day
              << " month=" << p.month << " over=" << p.over_budget << " stop=" << p.stop
              << " reason=" << p.reason << " epoch=" << p.epoch << " report="
              << (p.report
                      ? std::to_string(p.report->partition) + ":" + std::to_string(p.report->offset)
                      : "none");
          },
      },
      e.payload);
  return o.str();
}

const time_ms t0 = 1'795'428'000'123;  // 2026-11-23T10:00:00.123Z

usage_decided sample_usage() {
  usage_decided u;
  u.team = team_id{"acme"};
  u.agent = agent_id{"eng-1"};
  u.session = session_id{"s-1"};
  u.task = task_id{"594"};
  u.model = "claude-sonnet-4-5";
  u.effort = "high";
  u.tokens = {.input = 2500, .output = 800, .cache_creation = 100, .cache_read = 300};
  u.cost = nanos{12'000'000};
  u.source = cost_source::reported;
  u.price_version = "p-0123456789ab";
  u.occurred_at = t0 - 5'000;
  u.day = "2026-11-23";
  u.month = "2026-11";
  u.over_budget = true;
  u.stop = true;
  u.reason = "crossed:team:acme:day:cost";
  u.epoch = 7;
  u.report = report_ref{3, 4242};
  return u;
}

std::vector<event> one_of_each() {
  std::vector<event> out;
  auto add = [&](std::string id, event_payload p) {
    event e;
    e.id = event_id{id};
    e.time = t0;
    e.source = "tally/test";
    e.payload = std::move(p);
    out.push_back(std::move(e));
  };
  add("e-team", team_created{team_id{"acme"}, "Acme Corp \"R&D\"", "Asia/Kolkata"});
  add("e-agent", agent_registered{team_id{"acme"}, agent_id{"eng-1"}, "Engineer 1", "coder"});
  add("e-task", task_created{team_id{"acme"},
                             task_id{"594"},
                             "Fix the ledger",
                             "high",
                             "bug",
                             {"budget:0.50", "backend"},
                             nanos{500'000'000}});
  add("e-task-nobudget",
      task_created{team_id{"acme"}, task_id{"595"}, "", "", "", {}, std::nullopt});
  limit_set l;
  l.cost_per_day = nanos{10'000'000'000};
  l.cost_per_run = nanos{1'000'000'000};
  l.tokens_per_month = 5'000'000;
  l.max_concurrent_sessions = 3;
  add("e-limits", limits_set{team_id{"acme"}, limit_scope::agent, "eng-1", l});
  add("e-limits-global", limits_set{team_id{}, limit_scope::global, "", limit_set{}});
  add("e-open", session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-1"},
                               task_id{"594"}, "claude-sonnet-4-5", "high"});
  session_opened queued{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-2"}, task_id{}, "m", ""};
  queued.queued = true;
  add("e-open-queued", queued);
  add("e-activate", session_activated{team_id{"acme"}, session_id{"s-2"}});
  add("e-hold",
      reservation_held{team_id{"acme"}, "rsv-1", session_id{"s-1"}, agent_id{"eng-1"},
                       task_id{"594"}, nanos{500'000'000}, t0 + 300'000, "0123456789abcdef"});
  add("e-settle", reservation_released{team_id{"acme"}, "rsv-1", session_id{"s-1"}, "settled",
                                       nanos{450'000'000}, event_id{"u-1"}});
  add("e-release", reservation_released{team_id{"acme"}, "rsv-2", session_id{"s-1"}, "released",
                                        std::nullopt, event_id{}});
  add("e-end", session_ended{team_id{"acme"}, session_id{"s-1"}, session_status::failed});
  add("e-term", session_terminated{team_id{"acme"}, session_id{"s-1"}, "crossed:x"});
  add("dismiss:model_downgrade:eng-1:opus",
      insight_dismissed{team_id{"acme"}, "model_downgrade:eng-1:opus", "key_0123"});
  usage_recorded rec{sample_usage()};
  add("e-rec", rec);
  usage_rejected rej{sample_usage()};
  rej.source = cost_source::unpriced;
  rej.cost = nanos{0};
  rej.report.reset();
  rej.session = session_id{};
  rej.task = task_id{};
  rej.stop = false;
  rej.over_budget = false;
  add("e-rej", rej);
  return out;
}

TEST(events_codec, every_payload_round_trips_with_all_fields) {
  for (const auto& e : one_of_each()) {
    auto json = encode_event(e);
    auto back = decode_event(json);
    ASSERT_TRUE(back) << json << ": " << back.error().message();
    EXPECT_EQ(describe(*back), describe(e)) << json;
    EXPECT_EQ(encode_event(*back), json);  // byte-stable
    EXPECT_EQ(event_team(*back), event_team(e));
  }
}

TEST(events_codec, direct_text_is_the_boost_json_text) {
  // encode_event writes the envelope and usage payloads straight to text: byte for byte what
  // Boost.JSON writes for the same values, with escapes, empty and extreme fields too.
  auto events = one_of_each();
  usage_recorded odd{sample_usage()};
  odd.model = "m\"\\/\n\t\x01\x1f\x7f é";
  odd.reason = "";
  odd.request_hash = "abc";
  odd.tokens = {.input = INT64_MAX, .output = 0, .cache_creation = 0, .cache_read = 0};
  odd.cost = nanos{INT64_MIN};
  odd.epoch = -1;
  event e;
  e.id = event_id{"id \"q\""};
  e.time = 0;
  e.source = "";
  e.payload = odd;
  events.push_back(e);
  for (const auto& ev : events) {
    EXPECT_EQ(encode_event(ev), encode_event_with_boost_json(ev));
  }
}

TEST(events_codec, the_id_is_read_from_the_head_of_the_text) {
  // What the partition owner recognises its own ledger records by, without decoding them.
  for (const auto& e : one_of_each()) {
    const auto text = encode_event(e);
    auto id = encoded_event_id(text);
    ASSERT_TRUE(id) << text;
    EXPECT_EQ(*id, e.id.str());
  }
  event e = one_of_each().front();
  e.id = event_id{"id \"q\""};  // escaped in the text: not read, the record is decoded instead
  EXPECT_FALSE(encoded_event_id(encode_event(e)));
  EXPECT_FALSE(encoded_event_id(R"({"id":"e-1","specversion":"1.0"})"));
  EXPECT_FALSE(encoded_event_id(R"({"specversion":"1.0","id":"unterminated)"));
  EXPECT_FALSE(encoded_event_id(""));
}

TEST(events_codec, a_batch_record_holds_the_events_of_one_append_in_order) {
  const auto events = one_of_each();
  const auto text = encode_event_batch(events);
  EXPECT_EQ(text.front(), '[');
  EXPECT_EQ(text.back(), ']');
  auto back = decode_ledger_record(text);
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(describe((*back)[i]), describe(events[i]));
    EXPECT_EQ(encode_event((*back)[i]), encode_event(events[i]));  // the same text as alone
  }
  EXPECT_EQ(encoded_batch_first_id(text), events.front().id.str());
  // A record of one event is one event.
  auto one = decode_ledger_record(encode_event(events.back()));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(describe(one->front()), describe(events.back()));
  // Strings with brackets, braces and escaped quotes do not cut an element short.
  event odd;
  odd.id = event_id{"b-1"};
  odd.time = t0;
  odd.payload = usage_recorded{sample_usage()};
  std::get<usage_recorded>(odd.payload).model = "m}]\",{\"[";
  auto two = decode_ledger_record(encode_event_batch({odd, events.front()}));
  ASSERT_TRUE(two) << two.error().message();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(std::get<usage_recorded>(two->front().payload).model, "m}]\",{\"[");
  EXPECT_EQ(two->back().id, events.front().id);
  // Anything else is refused whole: the fold skips the record.
  const auto e = encode_event(events.front());
  for (const std::string& bad :
       {std::string("[]"), "[" + e, "[" + e + ",]", "[" + e + "," + e, "[" + e + "] x",
        "[" + e + " " + e + "]", std::string("[1]"), "[" + e.substr(0, e.size() - 1) + "]"}) {
    EXPECT_FALSE(decode_ledger_record(bad)) << bad;
  }
  EXPECT_FALSE(encoded_batch_first_id(e));
}

TEST(events_codec, envelope_is_a_cloudevent) {
  event e;
  e.id = event_id{"e-1"};
  e.time = t0;
  e.payload = session_ended{team_id{"acme"}, session_id{"s-1"}, session_status::completed};
  EXPECT_EQ(encode_event(e),
            R"({"specversion":"1.0","id":"e-1","source":"tally","type":"tally.session_ended.v1",)"
            R"("time":"2026-11-23T10:00:00.123Z","subject":"acme",)"
            R"("data":{"team_id":"acme","session_id":"s-1","status":"completed"}})");
  // A record with the optional datacontenttype (as earlier versions wrote) reads the same.
  auto with_type = decode_event(
      R"({"specversion":"1.0","id":"e-1","source":"tally","type":"tally.session_ended.v1",)"
      R"("time":"2026-11-23T10:00:00.123Z","subject":"acme","datacontenttype":"application/json",)"
      R"("data":{"team_id":"acme","session_id":"s-1","status":"completed"}})");
  ASSERT_TRUE(with_type);
  EXPECT_EQ(encode_event(*with_type), encode_event(e));
}

TEST(events_codec, a_usage_event_leaves_out_the_fields_at_their_default) {
  // A usage event per report is the bulk of the ledger: "" and 0 are not written, and an
  // absent field reads as its default, so the text is shorter and means the same.
  event e;
  e.id = event_id{"u-1"};
  e.time = t0;
  usage_recorded u;
  u.team = team_id{"acme"};
  u.model = "m";
  u.tokens = {.input = 3, .output = 4, .cache_creation = 0, .cache_read = 0};
  u.cost = nanos{5};
  u.source = cost_source::reported;
  u.occurred_at = t0;
  u.day = "2026-11-23";
  u.month = "2026-11";
  e.payload = u;
  const auto text = encode_event(e);
  EXPECT_EQ(text,
            R"({"specversion":"1.0","id":"u-1","source":"tally","type":"tally.usage_recorded.v1",)"
            R"("time":"2026-11-23T10:00:00.123Z","subject":"acme","data":{"team_id":"acme",)"
            R"("model":"m","input_tokens":3,"output_tokens":4,"cost_nanos":5,)"
            R"("cost_source":"reported","occurred_at":"2026-11-23T10:00:00.123Z",)"
            R"("day":"2026-11-23","month":"2026-11","over_budget":false,"action":"continue"}})");
  auto back = decode_event(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(describe(*back), describe(e));
  // The same event as earlier versions wrote it, every field present, is the same event.
  auto full = decode_event(
      R"({"specversion":"1.0","id":"u-1","source":"tally","type":"tally.usage_recorded.v1",)"
      R"("time":"2026-11-23T10:00:00.123Z","subject":"acme","datacontenttype":"application/json",)"
      R"("data":{"team_id":"acme","agent_id":"","session_id":"","task_id":"","model":"m",)"
      R"("effort":"","input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":0,)"
      R"("cache_read_input_tokens":0,"cost_nanos":5,"cost_source":"reported",)"
      R"("price_version":"","occurred_at":"2026-11-23T10:00:00.123Z","day":"2026-11-23",)"
      R"("month":"2026-11","over_budget":false,"action":"continue","reason":"","epoch":0}})");
  ASSERT_TRUE(full) << full.error().message();
  EXPECT_EQ(describe(*full), describe(e));
  EXPECT_EQ(encode_event(*full), text);
  // Every field set: every field written.
  auto& all = std::get<usage_recorded>(e.payload);
  all.agent = agent_id{"a"};
  all.session = session_id{"s"};
  all.task = task_id{"k"};
  all.effort = "high";
  all.tokens.cache_creation = 6;
  all.tokens.cache_read = 7;
  all.price_version = "p1";
  all.reason = "crossed:team:day:cost";
  all.epoch = 2;
  const auto every = encode_event(e);
  for (std::string_view k :
       {"agent_id", "session_id", "task_id", "effort", "cache_creation_input_tokens",
        "cache_read_input_tokens", "price_version", "reason", "epoch"}) {
    EXPECT_NE(every.find("\"" + std::string(k) + "\":"), std::string::npos) << k;
  }
  auto back_all = decode_event(every);
  ASSERT_TRUE(back_all);
  EXPECT_EQ(describe(*back_all), describe(e));
}

TEST(events_codec, usage_money_is_an_exact_integer) {
  event e;
  e.id = event_id{"e-big"};
  e.time = t0;
  usage_recorded u{sample_usage()};
  u.cost = nanos{9'007'199'254'740'993};  // 2^53 + 1: not representable as a double
  e.payload = u;
  auto json = encode_event(e);
  EXPECT_NE(json.find(R"("cost_nanos":9007199254740993)"), std::string::npos) << json;
  auto back = decode_event(json);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<usage_recorded>(back->payload).cost.count, 9'007'199'254'740'993);
}

decode_errc decode_error(std::string_view json) {
  auto r = decode_event(json);
  if (r) return decode_errc::ok;
  EXPECT_EQ(&r.error().category(), &decode_category());
  return static_cast<decode_errc>(r.error().value());
}

// A valid usage_recorded record with `data_fields` as its data object.
std::string usage_record(std::string_view data_fields) {
  return std::string(R"({"specversion":"1.0","id":"e-1","source":"tally",)"
                     R"("type":"tally.usage_recorded.v1","time":"2026-11-23T10:00:00.000Z",)"
                     R"("data":{)") +
         std::string(data_fields) + "}}";
}

constexpr std::string_view good_usage =
    R"("team_id":"acme","agent_id":"eng-1","input_tokens":1,"cost_nanos":5,)"
    R"("day":"2026-11-23","month":"2026-11")";

TEST(events_codec, decode_refusals) {
  ASSERT_EQ(decode_error(usage_record(good_usage)), decode_errc::ok);
  EXPECT_NE(decode_error(R"({"specversion":"1.0","id":)"), decode_errc::ok);
  // simdjson on-demand may see a missing colon as "not an object" first; either way refused.
  EXPECT_NE(decode_error(R"({"specversion" "1.0"})"), decode_errc::ok);
  EXPECT_EQ(decode_error("[1,2]"), decode_errc::not_cloudevent);
  // A session without its agent is refused: encoded back it would not decode (fuzz_decoders).
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":"o","source":"tally",)"
                         R"("type":"tally.session_opened.v1","time":"2026-11-23T10:15:00.123Z",)"
                         R"("data":{"team_id":"acme","session_id":"s-1","model":"m"}})"),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(R"({"id":"e-1","source":"tally","type":"tally.session_ended.v1",)"
                         R"("data":{"team_id":"acme","session_id":"s"}})"),
            decode_errc::not_cloudevent);  // no specversion
  EXPECT_EQ(decode_error(R"({"specversion":"0.3","id":"e-1","type":"tally.session_ended.v1",)"
                         R"("data":{"team_id":"acme","session_id":"s"}})"),
            decode_errc::not_cloudevent);
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":"e-1","type":"tally.session_ended.v1"})"),
            decode_errc::not_cloudevent);  // no data
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":"e-1","type":"tally.nope.v1",)"
                         R"("data":{"team_id":"acme"}})"),
            decode_errc::unknown_type);
  EXPECT_EQ(decode_error(usage_record(
                R"("team_id":"acme","input_tokens":-1,"day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(usage_record(
                R"("team_id":"acme","cost_nanos":"5","day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(usage_record(
                R"("team_id":"acme","cost_nanos":5.5,"day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(usage_record(
                R"("team_id":"ac/me","cost_nanos":5,"day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(usage_record(R"("team_id":"acme","cost_nanos":5,"month":"2026-11")")),
            decode_errc::bad_field);  // no day
  EXPECT_EQ(decode_error(usage_record(R"("cost_nanos":5,"day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);  // no team
  EXPECT_EQ(decode_error(usage_record(R"("team_id":"acme","cost_source":"guessed",)"
                                      R"("day":"2026-11-23","month":"2026-11")")),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":"e-1","type":"tally.session_ended.v1",)"
                         R"("time":"yesterday","data":{"team_id":"acme","session_id":"s"}})"),
            decode_errc::bad_field);
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":"e-1","type":"tally.session_ended.v1",)"
                         R"("data":{"team_id":"acme","session_id":"s","status":"paused"}})"),
            decode_errc::bad_field);
}

// A truncated record is malformed JSON, not a well-formed non-CloudEvent: the consumer counts
// and logs the two differently.
TEST(events_codec, truncated_record_is_malformed_json) {
  EXPECT_EQ(decode_error(R"({"specversion":"1.0","id":)"), decode_errc::malformed_json);
  EXPECT_EQ(decode_error(R"({"specversion":"1.0")"), decode_errc::malformed_json);
  EXPECT_EQ(decode_error("{"), decode_errc::malformed_json);
  EXPECT_EQ(decode_error(""), decode_errc::malformed_json);
}

TEST(events_codec, valid_id) {
  EXPECT_TRUE(valid_id("acme"));
  EXPECT_TRUE(valid_id("eng-1.b_c:d@e"));
  EXPECT_TRUE(valid_id(std::string(200, 'x')));
  EXPECT_FALSE(valid_id(std::string(201, 'x')));
  EXPECT_FALSE(valid_id(""));
  EXPECT_FALSE(valid_id("a/b"));
  EXPECT_FALSE(valid_id("a b"));
  EXPECT_FALSE(valid_id("a\"b"));
  EXPECT_FALSE(valid_id("a\\b"));
  EXPECT_FALSE(valid_id("caf\xc3\xa9"));
}

usage_report report(std::string_view json) {
  auto r = decode_usage_report(json);
  EXPECT_TRUE(r) << json << ": " << r.error().message();
  return r ? *r : usage_report{};
}

TEST(events_codec, usage_report_anthropic_shape) {
  auto r = report(R"({"event_id":"ev-1","team_id":"acme","agent_id":"eng-1","session_id":"s-1",)"
                  R"("task_id":"594","model":"claude-sonnet-4-5","effort":"high",)"
                  R"("input_tokens":2500,"output_tokens":800,"cache_creation_input_tokens":100,)"
                  R"("cache_read_input_tokens":300,"cost_usd":0.012,)"
                  R"("time":"2026-11-23T10:00:00.123Z"})");
  EXPECT_EQ(r.id.str(), "ev-1");
  EXPECT_EQ(r.team.str(), "acme");
  EXPECT_EQ(r.agent.str(), "eng-1");
  EXPECT_EQ(r.session.str(), "s-1");
  EXPECT_EQ(r.task.str(), "594");
  EXPECT_EQ(r.model, "claude-sonnet-4-5");
  EXPECT_EQ(r.effort, "high");
  EXPECT_EQ(r.tokens,
            (token_counts{.input = 2500, .output = 800, .cache_creation = 100, .cache_read = 300}));
  ASSERT_TRUE(r.cost);
  EXPECT_EQ(r.cost->count, 12'000'000);
  EXPECT_EQ(r.occurred_at, std::optional<time_ms>{t0});
}

TEST(events_codec, usage_report_openai_shape) {
  // Cached tokens are a subset of prompt tokens: 1000 prompt with 300 cached is 700 plain
  // input and 300 cache reads, not 1000 + 300.
  auto r = report(R"({"team_id":"acme","agent_id":"eng-1","model":"gpt-4o",)"
                  R"("usage":{"prompt_tokens":1000,"completion_tokens":200,)"
                  R"("prompt_tokens_details":{"cached_tokens":300}}})");
  EXPECT_EQ(r.tokens,
            (token_counts{.input = 700, .output = 200, .cache_creation = 0, .cache_read = 300}));
  EXPECT_FALSE(r.cost);
  EXPECT_FALSE(r.occurred_at);
  EXPECT_TRUE(r.id.empty());
  // Top-level prompt/completion without details.
  auto flat = report(R"({"team_id":"acme","agent_id":"eng-1","prompt_tokens":10,)"
                     R"("completion_tokens":4})");
  EXPECT_EQ(flat.tokens, (token_counts{.input = 10, .output = 4}));
}

TEST(events_codec, usage_report_nested_anthropic_usage) {
  auto r = report(R"({"team_id":"acme","agent_id":"eng-1","model":"claude-opus-4",)"
                  R"("usage":{"input_tokens":10,"output_tokens":20,)"
                  R"("cache_creation_input_tokens":2000,"cache_read_input_tokens":5000}})");
  EXPECT_EQ(r.tokens,
            (token_counts{.input = 10, .output = 20, .cache_creation = 2000, .cache_read = 5000}));
}

TEST(events_codec, usage_report_project_alias_and_numeric_ids) {
  auto r = report(R"({"project_id":"acme","agent_id":"eng-1","task_id":594,"run_id":17,)"
                  R"("input_tokens":1})");
  EXPECT_EQ(r.team.str(), "acme");
  EXPECT_EQ(r.task.str(), "594");
  EXPECT_EQ(r.session.str(), "17");
}

TEST(events_codec, usage_report_in_a_cloudevent) {
  auto r = report(R"({"specversion":"1.0","id":"ce-9","source":"fleet","type":"usage",)"
                  R"("time":"2026-11-23T12:00:00.123+02:00",)"
                  R"("data":{"team_id":"acme","agent_id":"eng-1","model":"m",)"
                  R"("input_tokens":5,"output_tokens":6,"cost_usd":1.2e-2}})");
  EXPECT_EQ(r.id.str(), "ce-9");  // the CloudEvent id is the report's identity
  EXPECT_EQ(r.occurred_at, std::optional<time_ms>{t0});
  EXPECT_EQ(r.team.str(), "acme");
  EXPECT_EQ(r.tokens, (token_counts{.input = 5, .output = 6}));
  ASSERT_TRUE(r.cost);
  EXPECT_EQ(r.cost->count, 12'000'000);
  // The data's own event_id and time win over the envelope's.
  auto inner = report(R"({"specversion":"1.0","id":"ce-9","time":"2026-11-23T12:00:00Z",)"
                      R"("data":{"event_id":"mine","time":"2026-11-23T10:00:00.123Z",)"
                      R"("team_id":"acme","agent_id":"eng-1"}})");
  EXPECT_EQ(inner.id.str(), "mine");
  EXPECT_EQ(inner.occurred_at, std::optional<time_ms>{t0});
}

TEST(events_codec, usage_report_cost_is_exact_in_every_form) {
  auto cost_of = [](std::string_view c) {
    auto r = report(std::string(R"({"team_id":"acme","agent_id":"eng-1","cost_usd":)") +
                    std::string(c) + "}");
    return r.cost ? r.cost->count : -1;
  };
  EXPECT_EQ(cost_of("1.2e-2"), 12'000'000);
  EXPECT_EQ(cost_of("12E-3"), 12'000'000);
  EXPECT_EQ(cost_of("0.012"), 12'000'000);
  EXPECT_EQ(cost_of("0.1"), 100'000'000);  // 0.1 is not exact in binary; it is here
  EXPECT_EQ(cost_of("0 "), 0);
  EXPECT_EQ(cost_of("0.0000000025"), 2);  // half-even
}

TEST(events_codec, usage_report_refusals) {
  auto refused = [](std::string_view json) {
    auto r = decode_usage_report(json);
    return !r;
  };
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","cost_usd":"0.01"})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","cost_usd":-0.01})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","cost_usd":1e30})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","input_tokens":-5})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","input_tokens":"5"})"));
  EXPECT_TRUE(
      refused(R"({"team_id":"acme","agent_id":"eng-1",)"
              R"("usage":{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":11}}})"));
  EXPECT_TRUE(refused(R"({"agent_id":"eng-1","input_tokens":1})"));  // no team
  EXPECT_TRUE(refused(R"({"team_id":"acme","input_tokens":1})"));    // no agent
  EXPECT_TRUE(refused(R"({"team_id":"a/b","agent_id":"eng-1"})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme","agent_id":"eng-1","time":"soon"})"));
  EXPECT_TRUE(refused(R"({"team_id":"acme",)"));
  EXPECT_TRUE(refused(R"({"specversion":"1.0","id":"x"})"));  // CloudEvent without data
}

TEST(events_codec, usage_report_encode_round_trips) {
  usage_report r;
  r.id = event_id{"ev-1"};
  r.team = team_id{"acme"};
  r.agent = agent_id{"eng-1"};
  r.session = session_id{"s-1"};
  r.task = task_id{"594"};
  r.model = "claude-sonnet-4-5";
  r.effort = "low";
  r.tokens = {.input = 1, .output = 2, .cache_creation = 3, .cache_read = 4};
  r.cost = nanos{123'456'789'123};
  r.occurred_at = t0;
  auto back = report(encode_usage_report(r));
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.team, r.team);
  EXPECT_EQ(back.agent, r.agent);
  EXPECT_EQ(back.session, r.session);
  EXPECT_EQ(back.task, r.task);
  EXPECT_EQ(back.model, r.model);
  EXPECT_EQ(back.effort, r.effort);
  EXPECT_EQ(back.tokens, r.tokens);
  EXPECT_EQ(back.cost, r.cost);
  EXPECT_EQ(back.occurred_at, r.occurred_at);
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

// decode_usage_report must read tokens exactly as parse_usage_json (schemas/usage.h), the one
// place that knows the shapes: otherwise a report on Kafka is charged differently from the same
// body sent elsewhere.
TEST(events_codec, usage_report_tokens_agree_with_parse_usage_json) {
  const std::string_view bodies[] = {
      R"({"input_tokens":2500,"output_tokens":800,"cache_read_input_tokens":300})",
      R"({"usage":{"prompt_tokens":1000,"completion_tokens":200,)"
      R"("prompt_tokens_details":{"cached_tokens":300}}})",
      // OpenAI Responses API: input_tokens *includes* the cached ones.
      R"({"usage":{"input_tokens":1000,"output_tokens":200,)"
      R"("input_tokens_details":{"cached_tokens":300}}})",
  };
  for (auto body : bodies) {
    auto expected = parse_usage_json(body);
    ASSERT_TRUE(expected) << body;
    std::string json =
        std::string(R"({"team_id":"acme","agent_id":"eng-1",)") + std::string(body.substr(1));
    auto r = decode_usage_report(json);
    ASSERT_TRUE(r) << json << ": " << r.error().message();
    EXPECT_EQ(tokens_of(r->tokens), tokens_of(*expected)) << json;
  }
  // What parse_usage_json refuses, the report decoder refuses too.
  const std::string_view refused[] = {
      R"({"input_tokens":5,"usage":{"input_tokens":7}})",  // duplicate_field
      R"({"input_tokens":5,"prompt_tokens":7})",           // mixed_shapes
  };
  for (auto body : refused) {
    ASSERT_FALSE(parse_usage_json(body)) << body;
    std::string json =
        std::string(R"({"team_id":"acme","agent_id":"eng-1",)") + std::string(body.substr(1));
    EXPECT_FALSE(decode_usage_report(json)) << json;
  }
}

}  // namespace
}  // namespace tally
