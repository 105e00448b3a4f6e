#include "tests/support/kafka_env.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

namespace tally::test {
namespace {

// The broker this process started, if any; stopped by an atexit handler.
std::string g_started_data_dir;  // set once, under the call_once of test_brokers()
std::string g_started_tmp_dir;

std::string local_script() {
  return std::string(TALLY_SOURCE_DIR) + "/deploy/kafka/local";
}

// Single-quotes `s` for /bin/sh.
std::string shell_quote(std::string_view s) {
  std::string quoted = "'";
  for (char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

void stop_started_broker() {
  if (g_started_data_dir.empty()) return;
  run_command("KAFKA_DATA_DIR=" + shell_quote(g_started_data_dir) + " " +
              shell_quote(local_script()) + " stop");
  std::error_code ignored;
  std::filesystem::remove_all(g_started_tmp_dir, ignored);
}

std::string start_broker() {
  const std::string tmp = make_temp_dir("tally-test-kafka");
  const std::string data_dir = tmp + "/kafka";
  // KAFKA_OWNER_*: the script's watchdog stops the broker and removes `tmp` even if this process
  // crashes before its atexit handler runs.
  const std::string command =
      "KAFKA_DATA_DIR=" + shell_quote(data_dir) + " KAFKA_OWNER_PID=" + std::to_string(getpid()) +
      " KAFKA_OWNER_REMOVE_DIR=" + shell_quote(tmp) + " " + shell_quote(local_script()) + " start";
  const CommandResult result = run_command(command);
  std::string address = result.out;
  while (!address.empty() && (address.back() == '\n' || address.back() == '\r')) {
    address.pop_back();
  }
  if (const auto nl = address.rfind('\n'); nl != std::string::npos) address.erase(0, nl + 1);
  if (result.status != 0 || address.rfind("127.0.0.1:", 0) != 0) {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
    throw std::runtime_error("deploy/kafka/local start failed (status " +
                             std::to_string(result.status) + ", output '" + result.out +
                             "'); see its messages on stderr");
  }
  g_started_data_dir = data_dir;
  g_started_tmp_dir = tmp;
  std::atexit(stop_started_broker);
  return address;
}

}  // namespace

std::string test_brokers() {
  if (const char* env = std::getenv("TALLY_TEST_BROKERS"); env != nullptr && *env != '\0') {
    return env;
  }
  static std::mutex mutex;
  static std::string address;  // empty until a start succeeded; a failed start is retried
  std::lock_guard<std::mutex> lock(mutex);
  if (address.empty()) address = start_broker();
  return address;
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned long> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char random_hex[9];
  std::snprintf(random_hex, sizeof random_hex, "%08x", static_cast<unsigned>(rng()));
  return std::string(prefix) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(counter.fetch_add(1) + 1) + "-" + random_hex;
}

std::string make_temp_dir(std::string_view prefix) {
  std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("mkdtemp(" + pattern + ") failed");
  }
  return std::string(buffer.data());
}

scoped_temp_dir::~scoped_temp_dir() {
  std::error_code ec;  // a destructor does not throw; a leftover dir in /tmp is harmless
  std::filesystem::remove_all(path, ec);
}

CommandResult run_command(const std::string& cmd) {
  std::fflush(nullptr);  // the child must not repeat our buffered output
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) out.append(chunk, n);
  const int raw = pclose(pipe);
  int status = -1;
  if (raw != -1 && WIFEXITED(raw)) {
    status = WEXITSTATUS(raw);
  } else if (raw != -1 && WIFSIGNALED(raw)) {
    status = 128 + WTERMSIG(raw);
  }
  return {status, std::move(out)};
}

}  // namespace tally::test
