#include "tests/support/tally_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "projections/store.h"
#include "tests/support/kafka_env.h"

namespace tally::test {
namespace {

using clock = std::chrono::steady_clock;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Single-quotes `s` for /bin/sh.
std::string quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string tally_binary() {
  return std::string(TALLY_BINARY_DIR) + "/tally";
}

std::vector<std::string> tally_args(const std::string& subcommand, const tally_options& o) {
  std::vector<std::string> a = {subcommand,
                                "--brokers",
                                o.brokers,
                                "--data-dir",
                                o.data_dir,
                                "--topic-prefix",
                                o.topic_prefix,
                                "--node-id",
                                o.node_id,
                                "--group",
                                o.group,
                                "--partitions",
                                std::to_string(o.partitions)};
  if (!o.config_path.empty()) {
    a.push_back("--config");
    a.push_back(o.config_path);
  }
  if (subcommand == "serve") {
    a.push_back("--listen");
    a.push_back(o.listen);
    if (!o.dashboard_dir.empty()) {
      a.push_back("--dashboard-dir");
      a.push_back(o.dashboard_dir);
    }
  }
  return a;
}

unsigned short tally_process::http_port() const {
  const std::string marker = "tally listening on port ";
  auto text = log();
  auto at = text.find(marker);
  if (at == std::string::npos) return 0;
  return static_cast<unsigned short>(std::stoi(text.substr(at + marker.size())));
}

tally_process::tally_process(const std::vector<std::string>& args, std::string log_path)
    : log_path_(std::move(log_path)) {
  const std::string bin = tally_binary();
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fd);
}

tally_process::~tally_process() {
  if (pid_ > 0 && !status_) kill_now();
}

std::string tally_process::log() const {
  return read_file(log_path_);
}

bool tally_process::running() {
  if (status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(st);
    return false;
  }
  return true;
}

bool tally_process::wait_ready(std::chrono::milliseconds timeout) {
  // Give each process its own log file: a "ready" of an earlier run would count.
  const auto deadline = clock::now() + timeout;
  while (clock::now() < deadline) {
    if (log().find("tally ready") != std::string::npos) return true;
    if (!running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

void tally_process::send(int signal) {
  if (!status_) ::kill(pid_, signal);
}

int tally_process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  while (running()) {
    if (clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return *status_;
}

int tally_process::kill_now() {
  if (status_) return *status_;
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  status_ = decode_status(st);
  return *status_;
}

int tally_process::terminate(std::chrono::milliseconds timeout) {
  send(SIGTERM);
  return wait(timeout);
}

int run_tally(const std::vector<std::string>& args, const std::string& log_path,
              std::chrono::milliseconds timeout) {
  tally_process p(args, log_path);
  int status = p.wait(timeout);
  if (status == -1) p.kill_now();
  return status;
}

namespace {
// A read-only open beside a running owner can race with a compaction deleting the files the
// MANIFEST it read still names ("Can't access 000107.sst"): open again.
std::unique_ptr<tally::ledger_store> open_read_only(const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    try {
      return std::make_unique<tally::ledger_store>(
          tally::store_options{.path = path, .read_only = true});
    } catch (const std::runtime_error& e) {
      if (attempt >= 20 || std::string(e.what()).find("No such file") == std::string::npos) {
        throw;
      }
    }
  }
}
}  // namespace

store_snapshot read_store(const std::string& data_dir) {
  store_snapshot s;
  auto opened = open_read_only(data_dir + "/store");
  auto& store = *opened;
  store.for_each(tally::column::totals, "", [&](std::string_view k, std::string_view v) {
    tally::totals t;
    if (!tally::decode_totals(v, t)) throw std::runtime_error("bad totals row " + std::string(k));
    s.totals[std::string(k)] = t;
  });
  store.for_each(tally::column::meta, "", [&](std::string_view k, std::string_view v) {
    std::int64_t i = 0;
    if (!tally::decode_i64(v, i)) throw std::runtime_error("bad meta row " + std::string(k));
    s.meta[std::string(k)] = i;
  });
  return s;
}

std::string dump_store_raw(const std::string& data_dir, const std::vector<std::string>& columns) {
  std::string out;
  for (auto& c : columns) {
    auto r = run_command(quote(tally_binary()) + " inspect --raw --data-dir " + quote(data_dir) +
                         " --column " + quote(c));
    if (r.status != 0) throw std::runtime_error("tally inspect failed for column " + c);
    out += r.out;
  }
  return out;
}

watermarks::watermarks(const std::string& brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk_) throw std::runtime_error(err);
}

watermarks::~watermarks() {
  rd_kafka_destroy(rk_);
}

std::int64_t watermarks::high(const std::string& topic, int partition) const {
  std::int64_t lo = 0, hi = 0;
  auto e = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), partition, &lo, &hi, 10'000);
  if (e) throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(e));
  return hi;
}

bool fully_processed(const watermarks& w, const tally_options& o, const store_snapshot& s,
                     std::string* why) {
  const std::string reports = o.topic_prefix + "tally.reports.v1";
  const std::string ledger = o.topic_prefix + "tally.ledger.v1";
  std::string missing;
  for (int p = 0; p < o.partitions; ++p) {
    // Reports first: a report is done only once its decision is folded, so reading the ledger
    // watermark after the reports' covers every decision those reports caused.
    const std::int64_t rhw = w.high(reports, p);
    const std::int64_t lhw = w.high(ledger, p);
    const std::int64_t r = s.meta_or("reports/" + std::to_string(p), -1);
    const std::int64_t l = s.meta_or("ledger/" + std::to_string(p), 0);
    if (r != rhw - 1 || l != lhw) {
      missing += " p" + std::to_string(p) + ": reports " + std::to_string(r) + "/" +
                 std::to_string(rhw - 1) + " ledger " + std::to_string(l) + "/" +
                 std::to_string(lhw);
    }
  }
  if (why) *why = missing;
  return missing.empty();
}

bool wait_processed(const watermarks& w, const tally_options& o, std::chrono::milliseconds timeout,
                    const std::function<bool()>& alive, std::string* why) {
  const auto deadline = clock::now() + timeout;
  std::string reason = "not checked";
  while (clock::now() < deadline) {
    if (alive && !alive()) {
      reason = "process exited; last state:" + reason;
      break;
    }
    auto s = read_store(o.data_dir);
    if (fully_processed(w, o, s, &reason)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (why) *why = reason;
  return false;
}

// ---- reports and their expected totals ----------------------------------------------------

const std::vector<test_model>& test_models() {
  // Prices per million tokens, in nano-dollars; m-cheap has prices that are not whole nanos per
  // token, so the single rounding at the end matters.
  static const std::vector<test_model> models = {
      {"m-alpha", 3'000'000'000, 15'000'000'000, 3'750'000'000, 300'000'000},
      {"m-cheap", 250'000'000, 1'250'000'000, 312'500'000, 25'000'000},
      {"m-gamma", 15'000'000'000, 75'000'000'000, 18'750'000'000, 1'500'000'000},
  };
  return models;
}

namespace {
std::string usd_text(std::int64_t nanos_per_million) {
  // Exact decimal USD of a nano-dollar amount.
  std::string s = std::to_string(nanos_per_million / 1'000'000'000) + ".";
  std::string frac = std::to_string(nanos_per_million % 1'000'000'000);
  return s + std::string(9 - frac.size(), '0') + frac;
}
}  // namespace

void write_test_config(const std::string& path) {
  std::ofstream f(path);
  f << "pricing:\n  versions:\n    - id: \"test-v1\"\n      effective_from: \"2020-01-01\"\n"
       "      models:\n";
  for (auto& m : test_models()) {
    f << "        " << m.name << ":\n"
      << "          input_per_million: " << usd_text(m.in) << "\n"
      << "          output_per_million: " << usd_text(m.out) << "\n"
      << "          cache_write_per_million: " << usd_text(m.cache_write) << "\n"
      << "          cache_read_per_million: " << usd_text(m.cache_read) << "\n";
  }
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::int64_t expected_cost(const test_model& m, std::int64_t in, std::int64_t out,
                           std::int64_t cache_write, std::int64_t cache_read) {
  __int128 s = static_cast<__int128>(in) * m.in + static_cast<__int128>(out) * m.out +
               static_cast<__int128>(cache_write) * m.cache_write +
               static_cast<__int128>(cache_read) * m.cache_read;
  __int128 q = s / 1'000'000, r = s % 1'000'000;
  if (r * 2 > 1'000'000 || (r * 2 == 1'000'000 && (q & 1))) ++q;
  return static_cast<std::int64_t>(q);
}

namespace {
// Howard Hinnant's civil_from_days.
void civil(std::int64_t days, int& y, unsigned& m, unsigned& d) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400) + (m <= 2);
}
}  // namespace

std::string utc_day(std::int64_t ms) {
  std::int64_t days = ms / 86'400'000 - (ms % 86'400'000 < 0 ? 1 : 0);
  int y;
  unsigned m, d;
  civil(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

std::string rfc3339_utc(std::int64_t ms) {
  std::int64_t day_ms = ((ms % 86'400'000) + 86'400'000) % 86'400'000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ", utc_day(ms).c_str(),
                static_cast<int>(day_ms / 3'600'000), static_cast<int>(day_ms / 60'000 % 60),
                static_cast<int>(day_ms / 1000 % 60), static_cast<int>(day_ms % 1000));
  return buf;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

report_generator::report_generator(std::uint64_t seed, std::string id_prefix, int teams,
                                   int agents_per_team)
    : rng_(seed),
      prefix_(std::move(id_prefix)),
      teams_(teams),
      agents_(agents_per_team),
      now_(now_ms()) {}

namespace {
// The decimal text of m * 10^-k in one of three forms, e.g. m=15, k=4: "0.0015", "15e-4",
// "1.5E-3".
std::string scaled_text(std::uint64_t m, int k, int form) {
  std::string digits = std::to_string(m);
  if (form == 0) {
    if (static_cast<int>(digits.size()) <= k) {
      digits = std::string(k + 1 - digits.size(), '0') + digits;
    }
    std::string s = digits.substr(0, digits.size() - k);
    if (k > 0) s += "." + digits.substr(digits.size() - k);
    return s;
  }
  if (form == 1) return digits + "e-" + std::to_string(k);
  const int exp = static_cast<int>(digits.size()) - 1 - k;
  std::string s = digits.substr(0, 1);
  if (digits.size() > 1) s += "." + digits.substr(1);
  return s + "E" + std::to_string(exp);
}

std::int64_t round_half_even_div(std::uint64_t m, std::uint64_t div) {
  std::uint64_t q = m / div, r = m % div;
  if (r * 2 > div || (r * 2 == div && (q & 1))) ++q;
  return static_cast<std::int64_t>(q);
}
}  // namespace

generated_report report_generator::next() {
  auto uni = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  };
  generated_report g;
  const int team = static_cast<int>(uni(0, teams_ - 1));
  const int agent = static_cast<int>(uni(0, agents_ - 1));
  g.team = "team-" + std::to_string(team);
  g.agent = "agent-" + std::to_string(team) + "-" + std::to_string(agent);
  g.event_id = prefix_ + "-" + std::to_string(counter_++);
  const std::int64_t at = now_ - uni(0, 36LL * 3'600'000);
  g.day = utc_day(at);
  g.month = g.day.substr(0, 7);
  const auto& model = test_models()[static_cast<std::size_t>(uni(0, 2))];
  g.model = model.name;

  std::int64_t in = uni(0, 20'000), out = uni(0, 4'000), cw = 0, cr = 0;
  std::string usage;
  if (uni(0, 9) < 2) {
    // OpenAI shape: cached tokens are a subset of the prompt tokens.
    const std::int64_t prompt = in + uni(0, 5'000);
    cr = prompt - in;
    usage = "\"usage\":{\"prompt_tokens\":" + std::to_string(prompt) +
            ",\"completion_tokens\":" + std::to_string(out) +
            ",\"prompt_tokens_details\":{\"cached_tokens\":" + std::to_string(cr) + "}}";
  } else {
    cw = uni(0, 3) == 0 ? uni(0, 8'000) : 0;
    cr = uni(0, 1) == 0 ? uni(0, 30'000) : 0;
    usage = "\"input_tokens\":" + std::to_string(in) + ",\"output_tokens\":" + std::to_string(out) +
            ",\"cache_creation_input_tokens\":" + std::to_string(cw) +
            ",\"cache_read_input_tokens\":" + std::to_string(cr);
  }

  std::string cost_field;
  std::int64_t cost = 0;
  if (uni(0, 1) == 0) {
    // Reported cost: m * 10^-k USD, k = 9 (whole nanos) .. 11 (rounded half-even).
    const int k = static_cast<int>(uni(9, 11));
    std::uint64_t m = static_cast<std::uint64_t>(uni(1, 5'000'000));
    if (k == 10 && uni(0, 3) == 0) m = m / 10 * 10 + 5;  // exact halves
    if (k == 11 && uni(0, 3) == 0) m = m / 100 * 100 + 50;
    cost = round_half_even_div(m, k == 9 ? 1 : k == 10 ? 10 : 100);
    cost_field = ",\"cost_usd\":" + scaled_text(m, k, static_cast<int>(uni(0, 2)));
  } else {
    cost = expected_cost(model, in, out, cw, cr);
  }

  g.json = "{\"event_id\":\"" + g.event_id + "\",\"team_id\":\"" + g.team + "\",\"agent_id\":\"" +
           g.agent + "\",\"model\":\"" + model.name + "\",\"time\":\"" + rfc3339_utc(at) + "\"," +
           usage + cost_field + "}";
  g.adds.cost_nanos = cost;
  g.adds.input_tokens = in;
  g.adds.output_tokens = out;
  g.adds.cache_creation_tokens = cw;
  g.adds.cache_read_tokens = cr;
  g.adds.events = 1;
  return g;
}

void expected_totals::add(const generated_report& r) {
  for (const std::string& scope :
       {std::string("g"), "t/" + r.team, "a/" + r.team + "/" + r.agent}) {
    rows_[tally::totals_key(scope, 'd', r.day)] += r.adds;
    rows_[tally::totals_key(scope, 'm', r.month)] += r.adds;
  }
  rows_[tally::totals_key("gm/" + r.model, 'd', r.day)] += r.adds;
  rows_[tally::totals_key("m/" + r.team + "/" + r.model, 'd', r.day)] += r.adds;
}

std::int64_t expected_totals::events() const {
  std::int64_t n = 0;
  for (auto& [k, t] : rows_) {
    if (k.rfind("g/d/", 0) == 0) n += t.events;
  }
  return n;
}

tally::totals sum_rows(const store_snapshot& s, const std::string& prefix) {
  tally::totals sum;
  for (auto& [k, t] : s.totals) {
    if (k.rfind(prefix, 0) == 0) sum += t;
  }
  return sum;
}

std::string describe(const tally::totals& t) {
  std::ostringstream o;
  o << "{cost_nanos=" << t.cost_nanos << " rejected_cost=" << t.rejected_cost_nanos
    << " in=" << t.input_tokens << " out=" << t.output_tokens << " cw=" << t.cache_creation_tokens
    << " cr=" << t.cache_read_tokens << " events=" << t.events << " rejected=" << t.rejected_events
    << " unpriced=" << t.unpriced_events << "}";
  return o.str();
}

::testing::AssertionResult totals_match(const expected_totals& e, const store_snapshot& s) {
  static const std::regex tracked(
      R"(^(g/[dm]/.*|t/[^/]+/[dm]/.*|a/[^/]+/[^/]+/[dm]/.*|gm/[^/]+/d/.*|m/[^/]+/[^/]+/d/.*)$)");
  std::ostringstream bad;
  int n = 0;
  for (auto& [k, want] : e.rows()) {
    auto it = s.totals.find(k);
    tally::totals got = it == s.totals.end() ? tally::totals{} : it->second;
    if (!(got == want) && n++ < 10) {
      bad << "\n  " << k << ": want " << describe(want) << "\n  " << std::string(k.size(), ' ')
          << "  got  " << describe(got);
    }
  }
  for (auto& [k, got] : s.totals) {
    if (std::regex_match(k, tracked) && !e.rows().count(k) && n++ < 10) {
      bad << "\n  unexpected row " << k << ": " << describe(got);
    }
  }
  if (n == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << n << " mismatching rows:" << bad.str();
}

::testing::AssertionResult totals_not_exceeded(const expected_totals& e, const store_snapshot& s) {
  std::ostringstream bad;
  int n = 0;
  for (auto& [k, want] : e.rows()) {
    auto it = s.totals.find(k);
    if (it == s.totals.end()) continue;
    const auto& got = it->second;
    if ((got.cost_nanos > want.cost_nanos || got.events > want.events ||
         got.input_tokens > want.input_tokens || got.output_tokens > want.output_tokens ||
         got.cache_creation_tokens > want.cache_creation_tokens ||
         got.cache_read_tokens > want.cache_read_tokens || got.rejected_events != 0 ||
         got.unpriced_events != 0) &&
        n++ < 10) {
      bad << "\n  " << k << ": at most " << describe(want) << "\n  got " << describe(got);
    }
  }
  if (n == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << n << " rows over the expected:" << bad.str();
}

}  // namespace tally::test
