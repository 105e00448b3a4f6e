#include "api/app.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "api/json_guard.h"
#include "api/openapi_doc.h"

namespace tally::api {
namespace {

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

rate_class rate_of(const std::string& s) {
  if (s == "ingest") return rate_class::ingest;
  if (s == "auth") return rate_class::auth;
  return rate_class::general;
}

}  // namespace

api_app::api_app(api_deps deps, auth_deps auth, metrics_registry& metrics)
    : deps_(std::move(deps)), auth_(auth), metrics_(metrics) {
  for (auto& r : api_routes()) {
    auto fn = r.handle;
    add(r.method, r.pattern, r.cls,
        [this, fn](request_ctx& ctx, respond_fn respond) { fn(deps_, ctx, std::move(respond)); });
  }
  add(http::verb::get, "/healthz", route_class::open, [](request_ctx&, respond_fn respond) {
    respond(json_text(http::status::ok, R"({"status":"ok"})"));
  });
  add(http::verb::get, "/readyz", route_class::open, [this](request_ctx&, respond_fn respond) {
    if (deps_.ledger->ready()) {
      respond(json_text(http::status::ok, R"({"status":"ready"})"));
    } else {
      auto res = problem(http::status::service_unavailable, "not_ready", "Not ready",
                         "the projections are catching up with the ledger");
      res.set(http::field::retry_after, "1");
      respond(std::move(res));
    }
  });
  add(http::verb::get, "/metrics", route_class::open, [this](request_ctx&, respond_fn respond) {
    http_response res{http::status::ok, 11};
    res.set(http::field::content_type, metrics_content_type);
    res.body() = metrics_.render();
    res.prepare_payload();
    respond(std::move(res));
  });
  add(http::verb::get, "/api/v1/openapi.yaml", route_class::open,
      [](request_ctx&, respond_fn respond) {
        http_response res{http::status::ok, 11};
        res.set(http::field::content_type, openapi_content_type);
        res.body() = std::string(openapi_yaml());
        res.prepare_payload();
        respond(std::move(res));
      });
  // The dashboard: index.html, the files Vite puts at the top level, the hashed bundles.
  add(http::verb::get, "/", route_class::open, [this](request_ctx&, respond_fn respond) {
    respond(dashboard_file(deps_.dashboard_dir, "index.html"));
  });
  add(http::verb::get, "/{file}", route_class::open, [this](request_ctx& ctx, respond_fn respond) {
    respond(dashboard_file(deps_.dashboard_dir, ctx.path.get("file").value_or("")));
  });
  add(http::verb::get, "/assets/{file}", route_class::open,
      [this](request_ctx& ctx, respond_fn respond) {
        respond(dashboard_file(deps_.dashboard_dir,
                               "assets/" + std::string(ctx.path.get("file").value_or(""))));
      });
  unmatched_ = &metrics_.route("unmatched");
}

void api_app::add(http::verb method, const std::string& pattern, route_class cls, route_handler h) {
  route_meta meta;
  meta.open = cls == route_class::open;
  meta.rate_class = cls == route_class::ingest ? "ingest"
                    : cls == route_class::auth ? "auth"
                                               : "general";
  router_.add(method, pattern, meta, std::move(h));
  route_metrics_.push_back(&metrics_.route(pattern));
}

void api_app::dispatch(http_request req, respond_fn respond, stream_fn stream) {
  const auto started = std::chrono::steady_clock::now();
  const auto method = req.method();
  const bool keep_alive = req.keep_alive();
  auto m = router_.match(method, req.target());
  route_metrics* slot = m ? route_metrics_.at(m.matched->id) : unmatched_;
  std::optional<rate_decision> rate;
  // Every answer goes out through here: rate headers, keep-alive, metrics.
  auto finish = [slot, started, method, keep_alive, respond = std::move(respond)](
                    http_response res, std::optional<rate_decision> rate) {
    if (rate) add_rate_headers(res, *rate);
    res.keep_alive(keep_alive);  // (the server adds its Server field on the wire)
    slot->observe(method, res.result_int(), std::chrono::steady_clock::now() - started);
    respond(std::move(res));
  };
  if (!m) {
    finish(std::move(*m.error), std::nullopt);
    return;
  }
  request_ctx ctx;
  ctx.req = std::move(req);
  ctx.route = m.matched->pattern;
  ctx.path = std::move(m.path);
  ctx.query = std::move(m.query);
  if (!m.matched->meta.open) {
    auto a = authenticate_request(auth_, ctx.req, rate_of(m.matched->meta.rate_class), wall_ms());
    if (auto* refused = std::get_if<http_response>(&a)) {
      finish(std::move(*refused), std::nullopt);
      return;
    }
    auto& ok = std::get<authenticated>(a);
    ctx.caller = ok.who;
    rate = ok.rate;
  }
  if (auto bad = check_json_body(ctx.req)) {
    finish(std::move(*bad), rate);
    return;
  }
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto shared_finish = std::make_shared<decltype(finish)>(std::move(finish));
  respond_fn answer = [shared_finish, rate, once](http_response res) {
    if (once->exchange(true)) return;
    (*shared_finish)(std::move(res), rate);
  };
  if (stream) {
    // A stream counts in /metrics as answered when it starts (its head).
    ctx.stream = [stream = std::move(stream), slot, started, method, rate,
                  once](stream_start start) {
      if (once->exchange(true)) {
        if (start.on_close) start.on_close();
        return;
      }
      if (rate) add_rate_headers(start.head, *rate);
      slot->observe(method, start.head.result_int(), std::chrono::steady_clock::now() - started);
      stream(std::move(start));
    };
  }
  try {
    m.matched->handler(ctx, answer);
  } catch (const api_error& e) {
    answer(problem(e.status, e.slug, "Request refused", e.what()));
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", std::string(http::to_string(method)), ctx.route, e.what());
    answer(problem(http::status::internal_server_error, "internal", "Internal error", ""));
  }
}

}  // namespace tally::api
