// What the webhook endpoints reach: the subscription registry, how a subscription record is
// made durable (the control topic) before it is applied, and the delivery log with its
// redelivery (the dispatcher's; null / empty on a node that delivers nothing).
#pragma once

#include <functional>
#include <string>

#include "consumers/delivery_store.h"
#include "consumers/webhook_registry.h"

namespace tally::api {

struct webhooks_api {
  webhook_registry* registry = nullptr;
  // Publishes the record; done(true) once the control topic acknowledged it.
  std::function<void(const webhook_subscription&, std::function<void(bool)>)> publish;
  const delivery_store* deliveries = nullptr;
  // Schedules another attempt of (target, event id) now; false when there is no such delivery.
  std::function<bool(const std::string&, const std::string&)> redeliver;
  bool allow_private = false;  // subscriptions to private and loopback addresses
};

}  // namespace tally::api
