#include "producers/report_client.h"

namespace tally {

rd_kafka_resp_err_t report_client::publish(const usage_report& r, delivery_fn done) {
  return publish_json(r.team.str(), encode_usage_report(r), std::move(done));
}

rd_kafka_resp_err_t report_client::publish_json(const std::string& team, std::string_view json,
                                                delivery_fn done) {
  return out_.produce(topic_, -1, team, json, {{"content-type", "application/json"}},
                      std::move(done));
}

}  // namespace tally
