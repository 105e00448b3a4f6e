#include "tests/support/http_scenario.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/support/http_client.h"
#include "tests/support/kafka_env.h"

namespace tally::test {

using namespace std::chrono_literals;

http_scenario::http_scenario(const std::string& name, const std::string& admin_key) {
  dir = make_temp_dir("tally-" + name);
  o.brokers = test_brokers();
  o.data_dir = dir + "/data";
  o.topic_prefix = unique_name(name) + ".";
  o.group = unique_name(name + "-group");
  o.partitions = 4;
  for (auto* n :
       {&topics.ledger, &topics.reports, &topics.control, &topics.alerts, &topics.alerts_dlq}) {
    *n = o.topic_prefix + *n;
  }
  ensure_topics(o.brokers, topics, o.partitions);
  ::setenv("TALLY_ADMIN_KEY", admin_key.c_str(), 1);
}

http_scenario::~http_scenario() {
  if (::testing::Test::HasFailure()) {
    std::printf("kept %s for inspection\n", dir.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

std::unique_ptr<tally_process> http_scenario::serve() {
  auto p = std::make_unique<tally_process>(tally_args("serve", o),
                                           dir + "/tally-" + std::to_string(logs++) + ".log");
  if (!p->wait_ready(60s)) {
    ADD_FAILURE() << "tally serve not ready; log:\n" << p->log();
    return nullptr;
  }
  http_client c(p->http_port());
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (p->running() && !c.wait_ready(1s)) {
    if (std::chrono::steady_clock::now() > deadline) break;
  }
  if (!p->running() || !c.wait_ready(1s)) {
    ADD_FAILURE() << "never ready; log:\n" << p->log();
    return nullptr;
  }
  return p;
}

}  // namespace tally::test
