#include "consumers/watermarks.h"

#include <chrono>
#include <thread>

namespace tally {

rd_kafka_resp_err_t query_watermarks(rd_kafka_t* rk, const char* topic, std::int32_t partition,
                                     std::int64_t* lo, std::int64_t* hi) {
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 60; ++attempt) {
    e = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, 10'000);
    if (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
        e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
        e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return e;
}

}  // namespace tally
