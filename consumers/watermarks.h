// The low and high watermarks of a partition, asked again while the broker says the partition
// has no leader yet (a topic created a moment ago). Thread-safety: as librdkafka's query.
#pragma once

#include <cstdint>

#include <librdkafka/rdkafka.h>

namespace tally {

// Returns the last error (NO_ERROR on success) after retrying retriable ones for up to ~15 s.
rd_kafka_resp_err_t query_watermarks(rd_kafka_t* rk, const char* topic, std::int32_t partition,
                                     std::int64_t* lo, std::int64_t* hi);

}  // namespace tally
