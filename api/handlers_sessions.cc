// Sessions and the usage reported in them.
#include "api/handlers.h"

#include <charconv>
#include <map>
#include <mutex>

#include <absl/container/flat_hash_map.h>
#include <fmt/compile.h>
#include <fmt/format.h>

#include "projections/reservations.h"
#include "schemas/json_text.h"
#include "schemas/text_buffer.h"
#include "schemas/text_hash.h"
#include "schemas/usage.h"

namespace tally::api {
namespace {

// The usage record of a decided usage event (recorded or rejected).
const usage_decided& decided_usage(const event& e) {
  if (const auto* u = std::get_if<usage_recorded>(&e.payload)) return *u;
  return std::get<usage_rejected>(e.payload);
}

void open_session(api_deps& deps, request_ctx& ctx, respond_fn respond, const agent_id& agent,
                  const request_body& b) {
  team_id team = team_of_agent(deps, agent);
  require(ctx, team, need::write);
  // Without a session id, a retried request (same Idempotency-Key) names the same session.
  std::string sid = b.id("session_id").value_or("");
  if (sid.empty()) {
    auto key = ctx.req["Idempotency-Key"];
    sid = key.empty() ? new_id("ses_") : "ses_" + sha256_hex(key, 32);
  }
  session_opened c{team,
                   agent,
                   session_id{sid},
                   task_id{b.id("task_id").value_or("")},
                   b.text("model").value_or(""),
                   b.text("effort").value_or("")};
  const auto eid = request_event_id(ctx, "open-" + c.session.str());
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        return decide_open_session(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision& d) {
        json_writer w;
        auto s = *live.session(team, c.session);
        write_session(w, live, team, c.session, s, deps.clock());
        // Queued behind a concurrency limit: 202, active once a slot frees (slots.h).
        const auto status = s.status == session_status::queued ? http::status::accepted
                            : d.events.empty()                 ? http::status::ok
                                                               : http::status::created;
        return json_text(status, w.take());
      });
}

std::optional<time_ms> time_field(const request_body& b) {
  for (auto k : {"occurred_at", "timestamp"}) {
    if (auto t = b.text(k)) {
      auto ms = parse_rfc3339(*t);
      if (!ms) {
        throw api_error(http::status::unprocessable_entity, "bad_field",
                        std::string(k) + " must be an RFC 3339 time");
      }
      return *ms;
    }
  }
  return std::nullopt;
}

// 402 for a refused report, as a problem body whose amounts follow the money convention.
http_response refused_usage(const event_id& id, const session_id& session,
                            const std::string& reason, nanos cost, bool duplicate) {
  json_writer w;
  w.begin_object().field("type", "https://tally.dev/problems/usage_refused");
  w.field("title", "Usage refused").field("status", 402);
  w.field("detail", "the report was refused (" + reason + ") and recorded as rejected");
  w.field("event_id", id.str()).field("session_id", session.str()).field("reason", reason);
  w.field("action", "stop").field("over_budget", true).money("rejected_cost", cost);
  if (duplicate) w.field("duplicate", true);
  w.end_object();
  http_response res{http::status::payment_required, 11};
  res.set(http::field::content_type, "application/problem+json");
  res.body() = w.take();
  res.prepare_payload();
  return res;
}

// What a report did to the reservation it names: "reservation": {id, status, amount, actual,
// over_reservation}.
void write_settlement(json_writer& w, const decision& d, live_view& live, const team_id& team,
                      const std::string& rid, time_ms now) {
  if (rid.empty()) return;
  bool settled = false;
  for (auto& e : d.events) {
    if (auto* r = std::get_if<reservation_released>(&e.payload); r && r->reason == "settled") {
      settled = true;
    }
  }
  const usage_decided& u = decided_usage(d.events.at(0));
  auto res = reservation_of(live, team, rid);
  if (!res) return;
  w.key("reservation").begin_object().field("reservation_id", rid);
  w.field("settled", settled).field("status", settled ? "settled" : res->status_at(now));
  w.money("amount", res->amount);
  if (settled) {
    w.money("actual", u.cost);
    w.field("over_reservation", u.cost.count > res->amount.count);
    if (u.cost.count > res->amount.count) {
      w.money("over_reservation_amount", nanos{u.cost.count - res->amount.count});
    }
  }
  w.end_object();
}

// The answer to a decided report: 200 recorded (maybe told to stop), 402 refused.
http_response usage_answer(const decision& d, live_view& live, const team_id& team,
                           const session_id& session, const std::string& reservation, time_ms now) {
  const event& e = d.events.at(0);
  const bool rejected = std::holds_alternative<usage_rejected>(e.payload);
  const usage_decided& u = decided_usage(e);
  auto status = live.status(team, session);
  if (rejected) return refused_usage(e.id, session, u.reason, u.cost, false);
  auto spent = live.get(totals_key(scope_session(team, session), window_lifetime, "-"));
  json_writer w;
  w.begin_object().field("event_id", e.id.str()).field("session_id", session.str());
  w.field("recorded", true);
  w.money("cost", u.cost);
  w.field("cost_source", to_string(u.source));
  if (!u.price_version.empty()) w.field("price_version", u.price_version);
  w.field("input_tokens", u.tokens.input).field("output_tokens", u.tokens.output);
  w.field("cache_creation_input_tokens", u.tokens.cache_creation);
  w.field("cache_read_input_tokens", u.tokens.cache_read);
  w.money("session_cost", nanos{spent.cost_nanos});
  w.field("over_budget", u.over_budget).field("action", u.stop ? "stop" : "continue");
  if (!u.reason.empty()) w.field("reason", u.reason);
  if (status) w.field("session_status", to_string(*status));
  write_settlement(w, d, live, team, reservation, now);
  w.end_object();
  return json_text(http::status::ok, w.take());
}

}  // namespace

void open_agent_session(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  agent_id agent{path_id(ctx, "agent_id")};
  auto b = body_of(ctx);
  b.allow_only({"task_id", "model", "effort", "session_id"});
  open_session(deps, ctx, std::move(respond), agent, b);
}

void start_session(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto b = body_of(ctx);
  b.allow_only({"agent_id", "task_id", "model", "effort", "session_id"});
  auto agent = b.id("agent_id");
  if (!agent || !valid_id(*agent)) {
    throw api_error(http::status::unprocessable_entity, "bad_field", "agent_id is required");
  }
  open_session(deps, ctx, std::move(respond), agent_id{*agent}, b);
}

namespace {

// The fields of a usage report (one POST, or one item of a batch).
usage_report read_usage(const request_ctx& ctx, const request_body& b, bool batch_item,
                        std::optional<std::string>& model) {
  static const request_body::field_set fields = {"session_id",
                                                 "event_id",
                                                 "input_tokens",
                                                 "output_tokens",
                                                 "cost_usd",
                                                 "cache_creation_input_tokens",
                                                 "cache_read_input_tokens",
                                                 "prompt_tokens",
                                                 "completion_tokens",
                                                 "total_tokens",
                                                 "prompt_tokens_details",
                                                 "input_tokens_details",
                                                 "completion_tokens_details",
                                                 "output_tokens_details",
                                                 "usage",
                                                 "cost_cents",
                                                 "model",
                                                 "occurred_at",
                                                 "timestamp",
                                                 "reservation_id"};
  b.allow_only(fields);
  if (!batch_item && b.has("session_id")) {
    throw api_error(http::status::unprocessable_entity, "unknown_field",
                    "session_id is in the path");
  }
  usage_report r;
  // The token fields from the fields parsed already (one parse per report).
  auto raw_tokens = b.usage_fields();
  auto tokens = raw_tokens ? normalise_usage(*raw_tokens)
                           : boost::system::result<token_counts>(raw_tokens.error());
  if (!tokens) {
    throw api_error(http::status::unprocessable_entity, "bad_usage",
                    "token counts: " + tokens.error().message());
  }
  r.tokens = *tokens;
  r.cost = b.usd("cost_usd");
  if (!r.cost) r.cost = b.cents("cost_cents");
  if (r.cost && r.cost->count < 0) {
    throw api_error(http::status::unprocessable_entity, "bad_field", "cost is never negative");
  }
  auto eid = b.id("event_id").value_or("");
  if (batch_item && eid.empty()) {
    r.id = event_id{new_id("api-")};
  } else {
    r.id = request_event_id(ctx, std::move(eid));
  }
  r.occurred_at = time_field(b);
  if (auto rid = b.id("reservation_id")) {
    if (!valid_id(*rid)) {
      throw api_error(http::status::unprocessable_entity, "bad_field",
                      "reservation_id is not a valid id");
    }
    r.reservation = *rid;
  }
  model = b.text("model");
  return r;
}

// What a retry of a report with the same key must repeat, as text, written through out (put:
// text as it is; num: a decimal integer).
template <class Out>
void write_canonical(Out& out, const usage_report& r, const std::optional<std::string>& model) {
  out.put(r.session.str());
  for (auto n : {r.tokens.input, r.tokens.output, r.tokens.cache_creation, r.tokens.cache_read}) {
    out.put("|");
    out.num(n);
  }
  if (r.cost) {
    out.put("|");
    out.num(r.cost->count);
  } else {
    out.put("|-");
  }
  out.put("|");
  out.put(model ? std::string_view(*model) : std::string_view("-"));
  if (r.occurred_at) {
    out.put("|");
    out.num(*r.occurred_at);
  } else {
    out.put("|-");
  }
  // A report without a reservation keeps the fingerprint it always had.
  if (!r.reservation.empty()) {
    out.put("|r:");
    out.put(r.reservation);
  }
}

std::string canonical_request(const usage_report& r, const std::optional<std::string>& model) {
  std::string canon;
  text_string out{canon};
  write_canonical(out, r, model);
  return canon;
}

// The fingerprint of a report's request (16 hex digits, kept with its event): XXH3 of its
// canonical text, which the usual report writes into a buffer on the stack.
std::string request_fingerprint(const usage_report& r, const std::optional<std::string>& model) {
  constexpr std::size_t numbers = 6 * 21, separators = 16;
  const std::size_t size = r.session.str().size() + (model ? model->size() : 1) +
                           r.reservation.size() + numbers + separators;
  std::uint64_t hash = 0;
  char buf[384];
  if (size <= sizeof buf) {
    text_buffer out{buf, buf + sizeof buf};
    write_canonical(out, r, model);
    hash = text_hash(std::string_view(buf, static_cast<std::size_t>(out.p - buf)));
  } else {
    hash = text_hash(canonical_request(r, model));
  }
  char hex[16];
  fmt::format_to(hex, FMT_COMPILE("{:016x}"), hash);
  return std::string(hex, sizeof hex);
}

// Whether a stored fingerprint is this report's. Events decided before XXH3 keep the first 16
// hex digits of SHA-256 of the same text: a retry across that upgrade is still the same report.
bool same_request(const std::string& stored, const usage_report& r,
                  const std::optional<std::string>& model) {
  if (stored.empty() || stored == r.request_hash) return true;
  return sha256_hex(canonical_request(r, model), 16) == stored;
}

// The answer to a retried report: the original one, unless the key came with another body.
http_response retry_answer(const original_answer& o, const usage_report& r,
                           const std::optional<std::string>& model) {
  if (!same_request(o.request_hash, r, model)) {
    return problem(http::status::unprocessable_entity, "idempotency_key_reused",
                   "Idempotency key reused",
                   "this event_id / Idempotency-Key was used for a different report");
  }
  if (!o.recorded) return refused_usage(r.id, r.session, o.reason, o.cost, true);
  json_writer w;
  w.begin_object().field("event_id", r.id.str()).field("session_id", r.session.str());
  w.field("recorded", true).field("duplicate", true);
  w.money("cost", o.cost);
  w.field("over_budget", o.over_budget).field("action", o.stop ? "stop" : "continue");
  if (!o.reason.empty()) w.field("reason", o.reason);
  w.end_object();
  return json_text(http::status::ok, w.take());
}

// What a decision made now needs besides the report.
decide_context decide_context_of(api_deps& deps) {
  decide_context dc;
  dc.pricing = deps.pricing;
  dc.policy = deps.policy;
  dc.now = deps.clock();
  dc.late_grace_ms = deps.late_grace_ms;
  dc.future_skew_ms = deps.future_skew_ms;
  dc.source = deps.source;
  return dc;
}

// Completes a report from its session (read from the live view unless given) and decides it
// against the live view.
std::optional<decision> decide_report(const decide_context& dc, live_view& live, usage_report& r,
                                      const std::optional<std::string>& model,
                                      std::shared_ptr<const session_record> s = nullptr) {
  if (!s) s = live.session_ptr(r.team, r.session);
  if (!s) return std::nullopt;
  r.agent = s->agent;
  r.task = s->task;
  r.model = model.value_or(s->model);
  r.effort = s->effort;
  return decide_usage(live, dc, r, std::nullopt, s.get());
}

}  // namespace

void report_usage(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::write);
  auto b = body_of(ctx);
  std::optional<std::string> model;
  usage_report r = read_usage(ctx, b, false, model);
  r.team = team;
  r.session = session;
  r.request_hash = request_fingerprint(r, model);
  std::optional<decision> decided;
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        decided = decide_report(decide_context_of(deps), live, r, model);
        if (!decided)
          return command_decision{refusal::not_found, "session_not_found", "no session"};
        command_decision out;
        switch (decided->what) {
          case verdict::invalid:
            out.refused =
                decided->reason == "session_queued" ? refusal::conflict : refusal::invalid;
            out.code = decided->reason;
            out.detail = decided->reason == "session_queued"
                             ? "the session is queued: report usage once it is active"
                             : "the report was refused: " + decided->reason;
            break;
          case verdict::duplicate:
            break;  // nothing to append; answered below
          case verdict::recorded:
          case verdict::rejected:
            out.events = decided->events;
            break;
        }
        return out;
      },
      [&](live_view& live, const command_decision&) {
        if (decided->what == verdict::duplicate) {
          if (auto o = live.original(team, r.id)) return retry_answer(*o, r, model);
          json_writer w;  // an event of this id that is not a usage report
          w.begin_object().field("event_id", r.id.str()).field("session_id", session.str());
          w.field("duplicate", true).end_object();
          return json_text(http::status::ok, w.take());
        }
        return usage_answer(*decided, live, team, session, r.reservation, deps.clock());
      });
}

void report_usage_batch(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  // A credential that may write nowhere (a reader) is refused whole: no item could pass.
  if (!ctx.caller.org_wide()) require(ctx, team_id{ctx.caller.team}, need::write);
  auto b = body_of(ctx);
  b.allow_only({"reports"});
  auto reports = b.objects("reports");
  if (!reports || reports->empty()) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "reports must be a non-empty array of usage reports");
  }
  if (reports->size() > max_batch_reports) {
    throw api_error(http::status::payload_too_large, "batch_too_large",
                    "at most " + std::to_string(max_batch_reports) + " reports per batch");
  }
  struct item {
    usage_report r;
    std::optional<std::string> model;
    int status = 0;            // HTTP status of this item
    std::string_view outcome;  // a literal: "recorded", "rejected", "duplicate" or "invalid"
    std::string reason;
    std::optional<decision> d;  // its events go straight into the append (decide_context::out)
    // What the answer says of the decided usage event (the event itself goes to the ledger).
    bool decided = false, over_budget = false, stop = false;
    nanos cost{0};
  };
  std::vector<item> items(reports->size());
  std::map<std::string, std::vector<std::size_t>> by_team;
  // A batch's reports are mostly on a few sessions: each session's team is looked up once.
  absl::flat_hash_map<std::string, team_id> team_of;
  for (std::size_t i = 0; i < reports->size(); ++i) {
    auto& it = items[i];
    try {
      const request_body& ib = (*reports)[i];
      ib.check();
      it.r = read_usage(ctx, ib, true, it.model);
      auto sid = ib.id("session_id");
      if (!sid || !valid_id(*sid)) {
        throw api_error(http::status::unprocessable_entity, "bad_field", "session_id is required");
      }
      it.r.session = session_id{std::move(*sid)};
      it.r.request_hash = request_fingerprint(it.r, it.model);
      auto known = team_of.find(it.r.session.str());
      if (known == team_of.end()) {
        known = team_of.emplace(it.r.session.str(), team_of_session(deps, it.r.session)).first;
      }
      it.r.team = known->second;
      require(ctx, it.r.team, need::write);
      by_team[it.r.team.str()].push_back(i);
    } catch (const api_error& e) {
      it.status = static_cast<int>(e.status);
      it.outcome = "invalid";
      it.reason = e.slug + ": " + e.what();
    }
  }
  struct completion {
    std::mutex m;
    int waiting = 1;  // the teams' appends, plus this handler until it has sent them all
    bool failed = false;
    std::string answer;  // the answer's body, written by the handler once every item is decided
    respond_fn respond;
  };
  auto c = std::make_shared<completion>();
  c->respond = std::move(respond);
  // Answered when the last append is acknowledged (on the producer's delivery thread), or by this
  // handler when nothing was appended: the body is ready by then, written by this thread while
  // the items were still in its cache.
  auto finish = [](completion& c) {
    if (c.failed) {
      c.respond(problem(http::status::service_unavailable, "append_failed",
                        "The ledger did not take every event",
                        "retry the batch: reports with an event_id are counted once"));
      return;
    }
    c.respond(json_text(http::status::ok, std::move(c.answer)));
  };
  auto done_one = [c, finish](bool ok) {
    std::unique_lock lock(c->m);
    if (!ok) c->failed = true;
    if (--c->waiting == 0) {
      lock.unlock();
      finish(*c);
    }
  };
  for (auto& entry : by_team) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const auto& indexes = entry.second;
    team_id team{entry.first};
    auto a = deps.ledger->with_team(team, [&](live_view& live) {
      // Their dedup keys in one store read rather than one per report.
      std::vector<std::string> keys;
      keys.reserve(indexes.size());
      for (auto i : indexes) {
        const auto& r = items[i].r;
        if (!r.id.empty()) keys.push_back(ledger_state::dedup_key(r.team.str(), r.id.str()));
      }
      live.state().prefetch_markers(keys);
      std::vector<event> events;
      events.reserve(indexes.size());
      // The reports of a batch are decided at once, their scopes' limits read once.
      limits_memo memo;
      auto dc = decide_context_of(deps);
      dc.memo = &memo;
      dc.out = &events;  // each decision's events go straight into the append
      // Each session's record is read once while the decisions leave sessions as they are: a
      // usage event never changes its session's record; a decision that also terminates,
      // activates or settles something clears what was read.
      absl::flat_hash_map<std::string_view, std::shared_ptr<const session_record>> sessions;
      for (auto i : indexes) {
        auto& it = items[i];
        const std::size_t first = events.size();
        auto& session = sessions[it.r.session.str()];
        if (!session) session = live.session_ptr(it.r.team, it.r.session);
        it.d = decide_report(dc, live, it.r, it.model, session);
        if (!it.d) {
          it.status = 404;
          it.outcome = "invalid";
          it.reason = "session_not_found";
          continue;
        }
        switch (it.d->what) {
          case verdict::recorded:
            it.status = 200;
            it.outcome = "recorded";
            it.reason = it.d->reason;
            break;
          case verdict::rejected:
            it.status = 402;
            it.outcome = "rejected";
            it.reason = it.d->reason;
            break;
          case verdict::duplicate: {
            auto o = live.original(it.r.team, it.r.id);
            if (o && !same_request(o->request_hash, it.r, it.model)) {
              it.status = 422;
              it.outcome = "invalid";
              it.reason = "idempotency_key_reused";
            } else {
              it.status = o && !o->recorded ? 402 : 200;
              it.outcome = "duplicate";
            }
            break;
          }
          case verdict::invalid:
            it.status = it.d->reason == "session_queued" ? 409 : 422;
            it.outcome = "invalid";
            it.reason = it.d->reason;
            break;
        }
        // Decided one after another: each sees the ones before it (in the live view, in order).
        if (events.size() > first) {
          const usage_decided& u = decided_usage(events[first]);
          it.decided = true;
          it.over_budget = u.over_budget;
          it.stop = u.stop;
          it.cost = u.cost;
        }
        for (std::size_t k = first; k < events.size(); ++k) live.add_pending(events[k]);
        if (events.size() > first + 1) sessions.clear();
      }
      if (events.empty()) return;
      {
        std::lock_guard lock(c->m);
        ++c->waiting;
      }
      // They are in the live view already (added above, one after another).
      deps.ledger->append(team, std::move(events), done_one, true);
    });
    if (a != team_access::ok) {
      for (auto i : indexes) {
        auto& it = items[i];
        it.status = 503;
        it.outcome = "invalid";
        it.reason = a == team_access::not_owner ? "not_owner" : "catching_up";
      }
    }
  }
  // Every item is decided (or refused) by now, and an append's outcome changes only whether the
  // answer is this body or a 503: the body is written here, before this handler's own
  // done_one, so no append can finish the request before it is ready.
  {
    int accepted = 0, refused = 0, duplicates = 0;
    for (auto& it : items) {
      accepted += it.outcome == "recorded";
      duplicates += it.outcome == "duplicate";
      refused += it.outcome == "rejected" || it.outcome == "invalid";
    }
    // The text json_writer would give (the same keys, in the same order), with the keys
    // written as the literals they are: a thousand results are most of a batch's answer.
    std::string out;
    out.reserve(64 + items.size() * 224);
    out += "{\"accepted\":";
    append_json_int(out, accepted);
    out += ",\"refused\":";
    append_json_int(out, refused);
    out += ",\"duplicates\":";
    append_json_int(out, duplicates);
    out += ",\"results\":[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto& it = items[i];
      out += i == 0 ? "{\"index\":" : ",{\"index\":";
      append_json_int(out, static_cast<std::int64_t>(i));
      out += ",\"event_id\":";
      append_json_string(out, it.r.id.str());
      out += ",\"session_id\":";
      append_json_string(out, it.r.session.str());
      out += ",\"status\":";
      append_json_string(out, it.outcome);
      out += ",\"http_status\":";
      append_json_int(out, it.status);
      if (it.decided) {
        out += ",\"cost_usd\":";
        out += format_usd(it.cost);
        out += ",\"cost_nanos\":";
        append_json_int(out, it.cost.count);
        out += it.over_budget ? ",\"over_budget\":true" : ",\"over_budget\":false";
        out += it.stop ? ",\"action\":\"stop\"" : ",\"action\":\"continue\"";
      }
      if (!it.reason.empty()) {
        out += ",\"reason\":";
        append_json_string(out, it.reason);
      }
      out += '}';
    }
    out += "]}";
    c->answer = std::move(out);
  }
  done_one(true);
}

void end_session(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::write);
  auto b = body_of(ctx);
  b.allow_only({"status"});
  auto status_text = b.text("status").value_or("completed");
  session_status st;
  if (status_text == "completed") {
    st = session_status::completed;
  } else if (status_text == "failed") {
    st = session_status::failed;
  } else {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "status must be completed or failed");
  }
  session_ended c{team, session, st};
  const auto eid = request_event_id(ctx, "end-" + session.str());
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        return decide_end_session(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision&) {
        json_writer w;
        write_session(w, live, team, session, *live.session(team, session), deps.clock());
        return json_text(http::status::ok, w.take());
      });
}

void get_session(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    auto s = live.session(team, session);
    if (!s) return problem(http::status::not_found, "session_not_found", "Not found", "");
    json_writer w;
    write_session(w, live, team, session, *s, deps.clock());
    return json_text(http::status::ok, w.take());
  });
}

void list_agent_sessions(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  agent_id agent{path_id(ctx, "agent_id")};
  team_id team = team_of_agent(deps, agent);
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    json_writer w;
    w.begin_object().field("agent_id", agent.str()).key("sessions").begin_array();
    const auto now = deps.clock();
    for (auto& [id, s] : live.sessions(team)) {
      if (s.agent == agent) write_session(w, live, team, id, s, now);
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
