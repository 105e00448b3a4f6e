#include "consumers/alert_dispatcher.h"

#include <algorithm>
#include <chrono>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "schemas/events.h"

namespace tally {
namespace json = boost::json;
namespace {

time_ms wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr std::size_t max_started_per_pass = 2048;

}  // namespace

std::vector<std::int64_t> default_retry_schedule_ms() {
  constexpr std::int64_t s = 1000, m = 60 * s, h = 60 * m;
  return {5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h};
}

std::optional<std::string> alert_dispatcher::webhook_body(std::string_view cloudevent) {
  boost::system::error_code ec;
  auto v = json::parse(cloudevent, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& ce = v.get_object();
  auto* type = ce.if_contains("type");
  auto* data = ce.if_contains("data");
  auto* id = ce.if_contains("id");
  if (!type || !type->is_string() || !data || !data->is_object() || !id) return std::nullopt;
  std::string_view t = type->get_string();
  const char* name = nullptr;
  if (t == event_type_name(event_payload{budget_threshold_crossed{}})) {
    name = "budget.threshold_crossed";
  } else if (t == event_type_name(event_payload{budget_threshold_resolved{}})) {
    name = "budget.threshold_resolved";
  } else {
    return std::nullopt;
  }
  json::object body;
  body["type"] = name;
  if (auto* time = ce.if_contains("time")) body["timestamp"] = *time;
  json::object d;
  d["id"] = *id;
  for (auto& [k, x] : data->get_object()) {
    if (k != "channels_off") d[k] = x;
  }
  body["data"] = std::move(d);
  return json::serialize(body);
}

alert_dispatcher::alert_dispatcher(dispatcher_options options, webhook_registry& registry,
                                   producer& out,
                                   std::function<void(const webhook_subscription&)> disable)
    : options_(std::move(options)), registry_(registry), out_(out), disable_(std::move(disable)) {
  if (!options_.clock) options_.clock = wall_ms;
  if (options_.retry_schedule_ms.empty()) options_.retry_schedule_ms = default_retry_schedule_ms();
  store_ = std::make_unique<delivery_store>(options_.path);
  sender_ = std::make_unique<webhook_sender>(options_.http, [this](webhook_result w) {
    auto started = result_of(w.tag);
    if (!started) return;
    result r = std::move(*started);
    r.ok = w.http_status >= 200 && w.http_status < 300;
    r.gone = w.http_status == 410;
    r.attempt.at = w.started_ms;
    r.attempt.duration_ms = w.duration_ms;
    r.attempt.status = w.http_status;
    r.attempt.timed_out = w.timed_out;
    r.attempt.error = w.error;
    if (w.error.empty() && !r.ok) {
      r.attempt.error = "HTTP " + std::to_string(w.http_status);
      if (!w.response_excerpt.empty()) r.attempt.error += ": " + w.response_excerpt;
    }
    post(std::move(r));
  });
}

alert_dispatcher::~alert_dispatcher() {
  stop();
}

void alert_dispatcher::start() {
  sender_->start();
  scheduler_ = std::thread([this] { schedule_loop(); });
  emailer_ = std::thread([this] { email_loop(); });
  consumer_ = std::thread([this] { consume_loop(); });
}

void alert_dispatcher::stop() {
  if (stop_.exchange(true)) return;
  wake();
  email_cv_.notify_all();
  if (consumer_.joinable()) consumer_.join();
  if (scheduler_.joinable()) scheduler_.join();
  if (emailer_.joinable()) emailer_.join();
  sender_->stop();
}

void alert_dispatcher::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void alert_dispatcher::post(result r) {
  {
    std::lock_guard lock(mu_);
    results_.push_back(std::move(r));
    woken_ = true;
  }
  cv_.notify_one();
}

bool alert_dispatcher::redeliver(const std::string& target, const std::string& event_id) {
  if (!store_->get(target, event_id)) return false;
  {
    std::lock_guard lock(mu_);
    redeliveries_.emplace_back(target, event_id);
    woken_ = true;
  }
  cv_.notify_one();
  return true;
}

std::vector<std::pair<std::string, std::string>> alert_dispatcher::targets_of(
    std::string_view cloudevent, std::string* type) {
  std::vector<std::pair<std::string, std::string>> out;
  auto ev = decode_event(cloudevent);
  if (!ev) return out;
  const alert_subject* s = nullptr;
  if (auto* c = std::get_if<budget_threshold_crossed>(&ev->payload)) {
    s = c;
    *type = "budget_threshold_crossed";
  } else if (auto* r = std::get_if<budget_threshold_resolved>(&ev->payload)) {
    s = r;
    *type = "budget_threshold_resolved";
  }
  if (!s) return out;
  auto off = [&](std::string_view ch) {
    return std::find(s->channels_off.begin(), s->channels_off.end(), ch) != s->channels_off.end();
  };
  const std::string team = s->team.str();
  if (!off("webhook")) {
    for (auto& sub : registry_.matching(team, s->level)) out.emplace_back(sub.id, "webhook");
  }
  if (!off("email") && options_.relay) {
    for (auto& rule : options_.email_rules) {
      if (!rule.team.empty() && rule.team != team) continue;
      if (!rule.min_level.empty() &&
          alert_level_rank(s->level) < alert_level_rank(rule.min_level)) {
        continue;
      }
      out.emplace_back(rule.id, "email");
    }
  }
  return out;
}

void alert_dispatcher::consume_loop() {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      spdlog::error("dispatcher: {}={}: {}", k, v, err);
    }
  };
  set("bootstrap.servers", options_.brokers);
  set("group.id", options_.group_id);
  if (!options_.instance_id.empty()) set("group.instance.id", options_.instance_id);
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("auto.offset.reset", "earliest");
  // A fetch is answered as soon as an alert arrives (fetch.min.bytes 1): the wait bounds only
  // idle polls. At 10 ms they were 100 requests a second, about 5 % of a core on the broker with
  // nothing to deliver; ack-to-webhook latency is the same at 500 ms.
  set("fetch.wait.max.ms", "500");
  set("session.timeout.ms", "10000");
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, [](rd_kafka_t* rk, rd_kafka_resp_err_t e,
                                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<alert_dispatcher*>(opaque);
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // Resume after the larger of the offset stored with the deliveries here and the one
      // committed by whichever node had the partition before.
      rd_kafka_committed(rk, parts, 10'000);
      auto local = self->store_->offsets();
      for (int i = 0; i < parts->cnt; ++i) {
        auto& p = parts->elems[i];
        std::int64_t off = p.offset >= 0 ? p.offset : -1;
        if (auto it = local.find(p.partition); it != local.end()) {
          off = std::max(off, it->second);
        }
        p.offset = off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
      }
      rd_kafka_assign(rk, parts);
      self->counters_.partitions_assigned = parts->cnt;
      spdlog::info("dispatcher: assigned {} alert partitions", parts->cnt);
    } else {
      rd_kafka_assign(rk, nullptr);
      self->counters_.partitions_assigned = 0;
    }
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    spdlog::error("dispatcher: cannot create the consumer: {}", err);
    return;
  }
  rd_kafka_poll_set_consumer(rk);
  auto* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.alerts_topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  while (!stop_) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("dispatcher: {}", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    std::string_view value(static_cast<const char*>(m->payload), m->len);
    std::string type;
    auto targets = targets_of(value, &type);
    auto ev = decode_event(value);
    try {
      auto created = store_->add_alert(ev ? ev->id.str() : std::string("?"), type, value, targets,
                                       m->partition, m->offset + 1, options_.clock());
      counters_.alerts_consumed.fetch_add(1);
      counters_.deliveries_created.fetch_add(created.size());
      if (!created.empty()) wake();
      rd_kafka_commit_message(rk, m, 1);
    } catch (const std::exception& e) {
      // The store refused: stop consuming rather than skip an alert (a restart reads it again).
      spdlog::error("dispatcher: {}; the consumer stops", e.what());
      rd_kafka_message_destroy(m);
      break;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

std::int64_t alert_dispatcher::delay_ms(int attempts) {
  const auto& s = options_.retry_schedule_ms;
  const std::int64_t base = s[std::min<std::size_t>(attempts - 1, s.size() - 1)];
  const std::int64_t spread = base * options_.jitter_percent / 100;
  if (spread <= 0) return base;
  std::uniform_int_distribution<std::int64_t> d(-spread, spread);
  return std::max<std::int64_t>(0, base + d(rng_));
}

void alert_dispatcher::schedule_loop() {
  while (!stop_) {
    std::deque<result> results;
    std::deque<std::pair<std::string, std::string>> again;
    {
      std::lock_guard lock(mu_);
      results.swap(results_);
      again.swap(redeliveries_);
      woken_ = false;
    }
    const time_ms now = options_.clock();
    for (auto& r : results) finish(std::move(r), now);
    for (auto& [t, e] : again) {
      auto d = store_->get(t, e);
      if (!d) continue;
      auto next = *d;
      next.state = delivery_state::pending;
      next.next_at = now;
      next.reason.clear();
      next.updated_at = now;
      store_->update(*d, next, std::nullopt);
      manual_.insert({t, e});
    }
    std::optional<time_ms> earliest;
    auto due = store_->due(now, max_started_per_pass + busy_.size(), &earliest);
    std::size_t started = 0;
    for (auto& [t, e] : due) {
      if (busy_.contains({t, e})) continue;
      if (started++ >= max_started_per_pass) break;
      start_attempt(t, e, now);
    }
    counters_.in_flight = static_cast<std::int64_t>(busy_.size());
    std::unique_lock lock(mu_);
    if (woken_ || stop_) continue;
    auto wait = std::chrono::milliseconds(1000);
    if (earliest) {
      wait = std::min(wait, std::chrono::milliseconds(std::max<std::int64_t>(1, *earliest - now)));
    }
    if (started >= max_started_per_pass) wait = std::chrono::milliseconds(0);
    cv_.wait_for(lock, wait, [&] { return woken_ || stop_.load(); });
  }
}

std::uint64_t alert_dispatcher::begin_attempt(const std::string& target,
                                              const std::string& event_id, bool manual) {
  busy_.insert({target, event_id});
  std::lock_guard lock(mu_);
  const std::uint64_t tag = next_tag_++;
  tags_[tag] = {target, event_id, manual};
  return tag;
}

std::optional<alert_dispatcher::result> alert_dispatcher::result_of(std::uint64_t tag) {
  std::lock_guard lock(mu_);
  auto it = tags_.find(tag);
  if (it == tags_.end()) return std::nullopt;
  result r;
  r.tag = tag;
  r.target = it->second.target;
  r.event_id = it->second.event_id;
  r.attempt.manual = it->second.manual;
  return r;
}

void alert_dispatcher::start_attempt(const std::string& target, const std::string& event_id,
                                     time_ms now) {
  auto d = store_->get(target, event_id);
  if (!d || d->state != delivery_state::pending) return;
  auto cancel = [&](std::string reason) {
    auto next = *d;
    next.state = delivery_state::cancelled;
    next.reason = std::move(reason);
    next.updated_at = now;
    store_->update(*d, next, std::nullopt);
    counters_.cancelled.fetch_add(1);
  };
  if (d->reason == "dead_letter") {  // attempts exhausted; the dead-letter record is not acked
    busy_.insert({target, event_id});
    dead_letter(*d, d->last_error);
    return;
  }
  auto body = store_->body(event_id);
  if (!body) return cancel("alert body missing");
  const bool manual = manual_.erase({target, event_id}) > 0;
  if (d->channel == "webhook") {
    auto sub = registry_.get(target);
    if (!sub || sub->deleted) return cancel("subscription deleted");
    if (!sub->enabled && !manual) return cancel("subscription disabled");
    auto payload = webhook_body(*body);
    if (!payload) return cancel("not an alert");
    const std::uint64_t tag = begin_attempt(target, event_id, manual);
    sender_->submit({tag, sub->url, event_id, std::move(*payload), sub->secret});
    return;
  }
  auto rule = std::find_if(options_.email_rules.begin(), options_.email_rules.end(),
                           [&](const email_rule& r) { return r.id == target; });
  if (rule == options_.email_rules.end() || !options_.relay) return cancel("email rule removed");
  auto ev = decode_event(*body);
  if (!ev) return cancel("not an alert");
  const std::uint64_t tag = begin_attempt(target, event_id, manual);
  {
    std::lock_guard lock(email_mu_);
    email_jobs_.emplace_back(tag, alert_email(*ev, rule->recipients));
  }
  email_cv_.notify_one();
}

void alert_dispatcher::email_loop() {
  for (;;) {
    std::pair<std::uint64_t, email_message> job;
    {
      std::unique_lock lock(email_mu_);
      email_cv_.wait(lock, [&] { return stop_ || !email_jobs_.empty(); });
      if (stop_) return;
      job = std::move(email_jobs_.front());
      email_jobs_.pop_front();
    }
    auto begun = result_of(job.first);
    if (!begun) continue;
    result r = std::move(*begun);
    const time_ms started = wall_ms();
    auto sent = send_email(*options_.relay, job.second);
    r.ok = sent.ok;
    r.permanent = sent.permanent;
    r.attempt.at = started;
    r.attempt.duration_ms = wall_ms() - started;
    r.attempt.status = static_cast<int>(sent.smtp_code);
    r.attempt.error = sent.error;
    post(std::move(r));
  }
}

void alert_dispatcher::dead_letter(const delivery_row& d, const std::string& reason) {
  auto body = store_->body(d.event_id).value_or("{}");
  header_list headers = {{"webhook-id", d.event_id},
                         {"tally-target", d.target},
                         {"tally-channel", d.channel},
                         {"tally-attempts", std::to_string(d.attempts)},
                         {"tally-reason", reason}};
  const std::string target = d.target, id = d.event_id;
  auto err = out_.produce(options_.dlq_topic, -1, d.target, body, headers,
                          [this, target, id](const struct delivery& k) {
                            result r;
                            r.target = target;
                            r.event_id = id;
                            r.dlq_done = !k.err;
                            r.dlq_failed = static_cast<bool>(k.err);
                            post(std::move(r));
                          });
  if (err) {
    spdlog::warn("dispatcher: dead-letter record not queued: {}", rd_kafka_err2str(err));
    result r;
    r.target = d.target;
    r.event_id = d.event_id;
    r.dlq_failed = true;
    post(std::move(r));
  }
}

void alert_dispatcher::finish(result r, time_ms now) {
  busy_.erase({r.target, r.event_id});
  if (r.tag) {
    std::lock_guard lock(mu_);
    tags_.erase(r.tag);
  }
  if (r.dlq_failed) return;  // the row stays pending: its next_at writes it to the topic again
  auto d = store_->get(r.target, r.event_id);
  if (!d) return;
  auto next = *d;
  next.updated_at = now;
  if (r.dlq_done) {
    next.state = delivery_state::dead;
    next.reason = "attempts exhausted";
    store_->update(*d, next, std::nullopt);
    counters_.dead.fetch_add(1);
    return;
  }
  if (d->state != delivery_state::pending) return;  // answered twice: the first answer counts
  next.attempts = d->attempts + 1;
  next.last_status = r.attempt.status;
  next.last_error = r.attempt.error;
  r.attempt.n = next.attempts;
  if (r.ok) {
    next.state = delivery_state::delivered;
    next.reason.clear();
    counters_.delivered.fetch_add(1);
  } else if (r.gone) {
    next.state = delivery_state::cancelled;
    next.reason = "gone";
    counters_.cancelled.fetch_add(1);
    if (auto sub = registry_.get(r.target); sub && sub->enabled && !sub->deleted) {
      sub->enabled = false;
      sub->disabled_reason = "gone";
      sub->disabled_at = now;
      sub->version += 1;
      if (disable_) disable_(*sub);
    }
  } else {
    counters_.failed_attempts.fetch_add(1);
    const bool exhausted =
        r.permanent || next.attempts > static_cast<int>(options_.retry_schedule_ms.size());
    if (exhausted) {
      // Stays pending until the dead-letter topic has it; a restart writes it there again.
      next.reason = "dead_letter";
      next.next_at = now + 30'000;
      store_->update(*d, next, r.attempt);
      busy_.insert({r.target, r.event_id});
      dead_letter(next, r.attempt.error);
      return;
    }
    next.next_at = now + delay_ms(next.attempts);
  }
  store_->update(*d, next, r.attempt);
}

}  // namespace tally
