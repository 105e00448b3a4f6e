// GET /api/v1/stream: the live stream (Server-Sent Events) of what the fold changes, from the
// node's live_hub. The scope is that of the usage reads: ?team_id=, else the credential's team;
// an org-wide admin without team_id sees every team. Keys in the query string are not taken
// (the normal authentication has run; the dashboard streams with fetch() and a header).
#include <atomic>
#include <charconv>

#include "api/handlers.h"
#include "api/live_stream.h"

namespace tally::api {
namespace {

std::optional<std::uint64_t> last_event_id(const request_ctx& ctx) {
  std::string_view v = ctx.req["Last-Event-ID"];
  if (v.empty()) {
    if (auto q = ctx.query.get("last_event_id")) v = *q;
  }
  if (v.empty()) return std::nullopt;
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) {
    throw api_error(http::status::bad_request, "bad_query",
                    "Last-Event-ID must be the id of an event of this stream (an integer)");
  }
  return n;
}

}  // namespace

void live_stream(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  stream_filter filter;
  if (!s.org) filter.team = s.team;
  if (auto q = ctx.query.get("types")) {
    auto kinds = parse_stream_types(*q);
    if (!kinds) {
      throw api_error(http::status::bad_request, "bad_query",
                      "types is a comma-separated list of usage, session, alert, limits");
    }
    filter.kinds = *kinds;
  }
  const auto last = last_event_id(ctx);
  if (!deps.live) {
    respond(problem(http::status::service_unavailable, "unavailable", "No live stream",
                    "this node does not serve the live stream"));
    return;
  }
  if (!ctx.stream) {
    respond(problem(http::status::not_implemented, "not_implemented", "Not streamable",
                    "this transport cannot stream an answer"));
    return;
  }
  live_hub* hub = deps.live;
  auto subscription = std::make_shared<std::atomic<std::uint64_t>>(0);
  stream_start start;
  start.head = http_response{http::status::ok, 11};
  start.head.set(http::field::content_type, "text/event-stream");
  start.head.set(http::field::cache_control, "no-store");
  start.head.set("X-Accel-Buffering", "no");
  start.heartbeat = std::string(sse_heartbeat);
  start.overflow_chunk = std::string(sse_overflow);
  start.on_open = [hub, filter, last, subscription](std::shared_ptr<stream_writer> out) {
    auto id = hub->subscribe(filter, last, out);
    if (id == 0) {
      out->close();
      return;
    }
    subscription->store(id);
  };
  start.on_close = [hub, subscription] {
    if (auto id = subscription->exchange(0)) hub->unsubscribe(id);
  };
  ctx.stream(std::move(start));
}

}  // namespace tally::api
