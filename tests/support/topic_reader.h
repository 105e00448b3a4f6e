// Test support: every record of a Kafka topic, all partitions, from the beginning to the end at
// the time of the call, with its key and headers; independent of the product's readers.
// Thread-safety: free function; each call has its own consumer.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tally::test {

struct topic_record {
  int partition = 0;
  long long offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;  // the last value of each name
};

// Adds a test failure and returns what it read when the topic cannot be read to its end.
std::vector<topic_record> read_topic(const std::string& brokers, const std::string& topic);

}  // namespace tally::test
