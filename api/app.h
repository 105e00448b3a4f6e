// The API as one dispatch function for the HTTP server: route, authenticate and rate-limit,
// check the JSON body, run the handler, add the rate headers, count the answer in /metrics.
// Also the open routes: /healthz, /readyz (ready once the projections have caught up),
// /metrics (Prometheus text), /api/v1/openapi.yaml, and the dashboard's files (/, /{file},
// /assets/{file}).
// Thread-safety: dispatch() runs on any io thread concurrently; set-up happens in the
// constructor.
#pragma once

#include <functional>
#include <vector>

#include "api/authn.h"
#include "api/handlers.h"
#include "api/metrics.h"
#include "api/router.h"

namespace tally::api {

class api_app {
 public:
  api_app(api_deps deps, auth_deps auth, metrics_registry& metrics);

  // `stream`: how a handler may answer with a stream instead (empty: this transport cannot
  // stream; such routes then answer 501).
  void dispatch(http_request req, respond_fn respond, stream_fn stream = {});
  const router& routes() const { return router_; }

 private:
  void add(http::verb method, const std::string& pattern, route_class cls, route_handler h);

  api_deps deps_;
  auth_deps auth_;
  metrics_registry& metrics_;
  router router_;
  std::vector<route_metrics*> route_metrics_;  // by route id
  route_metrics* unmatched_ = nullptr;
};

}  // namespace tally::api
