// Test support: a real Kafka broker for integration tests, fresh names and temp dirs.
// test_brokers() uses $TALLY_TEST_BROKERS (set by tests/run) or starts one broker per test
// process via deploy/kafka/local, stopped at exit. All functions are thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tally::test {

// The bootstrap address ("127.0.0.1:PORT") of the broker to test against. Starts a broker (in a
// fresh temp data dir) on first use when TALLY_TEST_BROKERS is unset; throws std::runtime_error
// if that fails. The broker is stopped and its data dir removed when the process exits.
std::string test_brokers();

// A fresh topic / group / id name: "<prefix>-<pid>-<counter>-<random hex>".
std::string unique_name(std::string_view prefix);

// Creates a new, empty directory "/tmp/<prefix>-XXXXXX" (mkdtemp) and returns its path. The
// caller removes it. Throws std::runtime_error on failure.
std::string make_temp_dir(std::string_view prefix);

// A make_temp_dir directory, removed with everything in it when this goes out of scope.
struct scoped_temp_dir {
  std::string path;
  explicit scoped_temp_dir(std::string_view prefix) : path(make_temp_dir(prefix)) {}
  ~scoped_temp_dir();
  scoped_temp_dir(const scoped_temp_dir&) = delete;
  scoped_temp_dir& operator=(const scoped_temp_dir&) = delete;
};

struct CommandResult {
  int status;       // exit code; 128 + signal number if killed by a signal; -1 if not run
  std::string out;  // everything the command wrote to stdout (stderr is not captured)
};

// Runs `cmd` with /bin/sh (popen) and waits for it.
CommandResult run_command(const std::string& cmd);

}  // namespace tally::test
