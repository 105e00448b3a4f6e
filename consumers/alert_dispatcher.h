// The alert dispatcher: delivers the alerts of tally.alerts.v1 to webhook subscriptions (signed
// per Standard Webhooks) and to email rules (SMTP), with retries, a delivery log and a
// dead-letter topic.
//
// Operation. A consumer (group `group_id`, one per node; partitions spread over the nodes) reads
// each alert, picks the targets that take it (subscriptions and email rules by team and level,
// minus the channels the team switched off when the alert was decided) and writes one pending
// delivery per target with the consumed offset in one batch of the delivery store; the offset is
// then committed to Kafka too, and on assignment the larger of the two is used. A scheduler
// thread starts the deliveries that are due: webhooks through the asynchronous sender (hundreds
// in flight), email on a worker thread. A 2xx (or the relay's acceptance) delivers; a webhook's
// 410 cancels the delivery and disables the subscription; any other answer, a timeout or a
// refused connection schedules the next attempt after the retry schedule's delay (with jitter);
// after the last one the alert goes to the dead-letter topic and the delivery is dead. A
// restart finds the pending deliveries in the store and resumes them: each is neither lost nor
// created twice; an attempt cut off by the crash is made again with the same webhook-id.
//
// Concurrency. Delivery rows are changed by the scheduler thread only; redeliveries asked
// through the API are queued to it. Reads of the store (the delivery log) come from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "consumers/delivery_store.h"
#include "consumers/smtp_sender.h"
#include "consumers/webhook_registry.h"
#include "consumers/webhook_sender.h"
#include "producers/producer.h"

namespace tally {

// An email rule of the configuration: who gets which alerts.
struct email_rule {
  std::string id;  // "em_" + 12 hex digits of the rule's content
  std::vector<std::string> recipients;
  std::string team;       // empty: every team
  std::string min_level;  // empty: every level
};

// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.6 hours.
std::vector<std::int64_t> default_retry_schedule_ms();

struct dispatcher_options {
  std::string brokers;
  std::string alerts_topic = "tally.alerts.v1";
  std::string dlq_topic = "tally.alerts.dlq.v1";
  std::string group_id = "tally-alerts";
  std::string instance_id;  // static membership when set
  std::string path;         // the delivery store's directory
  std::vector<std::int64_t> retry_schedule_ms = default_retry_schedule_ms();
  int jitter_percent = 20;
  webhook_sender_options http;
  std::vector<email_rule> email_rules;
  std::optional<smtp_relay> relay;  // email rules need one
  std::function<time_ms()> clock;   // wall clock; tests may pin it
};

struct dispatcher_counters {
  std::atomic<std::uint64_t> alerts_consumed{0};
  std::atomic<std::uint64_t> deliveries_created{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed_attempts{0};
  std::atomic<std::uint64_t> dead{0};
  std::atomic<std::uint64_t> cancelled{0};
  std::atomic<std::int64_t> in_flight{0};
  // Alert partitions the consumer holds; -1 until its group first assigned this node.
  std::atomic<std::int64_t> partitions_assigned{-1};
};

class alert_dispatcher {
 public:
  // `disable(sub)`: makes a subscription's disabled record durable (the control topic) and
  // applies it; called on the scheduler thread, must not block for long.
  alert_dispatcher(dispatcher_options options, webhook_registry& registry, producer& out,
                   std::function<void(const webhook_subscription&)> disable);
  ~alert_dispatcher();
  alert_dispatcher(const alert_dispatcher&) = delete;
  alert_dispatcher& operator=(const alert_dispatcher&) = delete;

  void start();
  void stop();

  // Schedules another attempt of a delivery now (whatever its state). False when there is no
  // such delivery.
  bool redeliver(const std::string& target, const std::string& event_id);

  const delivery_store& store() const { return *store_; }
  const dispatcher_counters& counters() const { return counters_; }
  const dispatcher_options& options() const { return options_; }

  // The Standard Webhooks body of an alert: {"type": "budget.threshold_crossed", "timestamp",
  // "data": {"id": <event id>, ...the alert's data}}; nullopt when `cloudevent` is no alert.
  static std::optional<std::string> webhook_body(std::string_view cloudevent);

 private:
  struct result {           // an attempt's end, handed to the scheduler
    std::uint64_t tag = 0;  // 0: no attempt (the dead-letter acknowledgement)
    std::string target, event_id;
    bool ok = false;
    bool gone = false;        // 410
    bool permanent = false;   // do not retry (an SMTP 5xx)
    bool dlq_done = false;    // the dead-letter record was acknowledged
    bool dlq_failed = false;  // ... or refused: tried again at the row's next_at
    delivery_attempt attempt;
  };
  struct in_flight_info {
    std::string target, event_id;
    bool manual = false;
  };

  void consume_loop();
  void schedule_loop();
  void email_loop();
  void start_attempt(const std::string& target, const std::string& event_id, time_ms now);
  // Marks the delivery busy and gives its attempt a tag (scheduler thread).
  std::uint64_t begin_attempt(const std::string& target, const std::string& event_id, bool manual);
  // The result of the attempt of a tag, to be completed; nullopt for an unknown tag.
  std::optional<result> result_of(std::uint64_t tag);
  void finish(result r, time_ms now);
  void dead_letter(const delivery_row& d, const std::string& reason);
  std::vector<std::pair<std::string, std::string>> targets_of(std::string_view cloudevent,
                                                              std::string* type);
  std::int64_t delay_ms(int attempts);
  void post(result r);
  void wake();

  dispatcher_options options_;
  webhook_registry& registry_;
  producer& out_;
  std::function<void(const webhook_subscription&)> disable_;
  std::unique_ptr<delivery_store> store_;
  std::unique_ptr<webhook_sender> sender_;
  dispatcher_counters counters_;
  std::mt19937_64 rng_{std::random_device{}()};

  std::mutex mu_;  // guards the queues below and wakes the scheduler
  std::condition_variable cv_;
  bool woken_ = false;
  std::deque<result> results_;
  std::deque<std::pair<std::string, std::string>> redeliveries_;
  std::uint64_t next_tag_ = 1;

  // Scheduler-thread state.
  std::map<std::uint64_t, in_flight_info> tags_;
  std::set<std::pair<std::string, std::string>> busy_;
  std::set<std::pair<std::string, std::string>> manual_;

  std::mutex email_mu_;
  std::condition_variable email_cv_;
  std::deque<std::pair<std::uint64_t, email_message>> email_jobs_;

  std::atomic<bool> stop_{false};
  std::thread consumer_, scheduler_, emailer_;
};

}  // namespace tally
