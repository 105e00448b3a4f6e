#include "tests/support/smtp_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

#include "tests/support/kafka_env.h"

namespace tally::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using clock = std::chrono::steady_clock;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Debian's interpreter, where python3-aiosmtpd is installed (PATH may hold another python3).
std::string python() {
  if (const char* p = std::getenv("TALLY_TEST_PYTHON"); p != nullptr && *p != '\0') return p;
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

int remaining_ms(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

received_mail parse_mail(const std::string& text) {
  const json::object o = json::parse(text).as_object();
  received_mail m;
  m.mail_from = o.at("mail_from").as_string().c_str();
  for (const auto& r : o.at("rcpt_tos").as_array()) m.rcpt_tos.emplace_back(r.as_string().c_str());
  m.raw = o.at("raw").as_string().c_str();
  for (const auto& [k, v] : o.at("headers").as_object())
    m.headers[std::string(k)] = v.as_string().c_str();
  m.body = o.at("body").as_string().c_str();
  m.tls = o.at("tls").as_bool();
  if (const auto& u = o.at("auth_user"); u.is_string()) m.auth_user = u.as_string().c_str();
  return m;
}

std::size_t count_mail(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".json";
  return n;
}

}  // namespace

smtp_server::smtp_server(smtp_server_options o) : dir_(make_temp_dir("tally-test-smtp")) {
  fs::create_directory(dir_ + "/mail");
  std::vector<std::string> args = {python(),
                                   std::string(TALLY_SOURCE_DIR) + "/tests/support/smtp_server.py",
                                   "--dir", dir_ + "/mail"};
  if (!o.cert_file.empty()) args.insert(args.end(), {"--cert", o.cert_file, "--key", o.key_file});
  if (o.require_starttls) args.push_back("--require-starttls");
  if (o.implicit_tls) args.push_back("--implicit-tls");
  if (!o.user.empty()) args.insert(args.end(), {"--user", o.user, "--password", o.password});
  for (const auto& a : o.reject_rcpt) args.insert(args.end(), {"--reject-rcpt", a});
  for (const auto& a : o.tempfail_rcpt) args.insert(args.end(), {"--tempfail-rcpt", a});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  const std::string log_path = dir_ + "/server.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    if (log_fd >= 0) ::dup2(log_fd, 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  if (log_fd >= 0) ::close(log_fd);
  stdin_fd_ = in[1];

  // "ready PORT\n" on stdout, or EOF (it died), within the deadline.
  const auto deadline = clock::now() + std::chrono::seconds(20);
  std::string line;
  while (line.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    char buf[256];
    const ssize_t n = r > 0 ? ::read(out[0], buf, sizeof buf) : 0;
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (line.rfind("ready ", 0) == 0) port_ = static_cast<unsigned short>(std::stoi(line.substr(6)));
  if (port_ == 0) {
    const std::string err = log();
    stop();  // the constructor does not finish, so the destructor will not run
    throw std::runtime_error("smtp_server.py did not become ready: " + line + err);
  }
}

smtp_server::~smtp_server() {
  stop();
}

void smtp_server::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = clock::now() + std::chrono::seconds(5);
    int status = 0;
    // A bounded wait for an external process to exit.
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    dir_.clear();
  }
}

std::string smtp_server::url(std::string_view scheme) const {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
}

std::string smtp_server::log() const {
  return read_all(dir_ + "/server.log");
}

std::vector<received_mail> smtp_server::received() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_ + "/mail")) {
    if (e.path().extension() == ".json") names.push_back(e.path().string());
  }
  std::sort(names.begin(), names.end());  // NNNNNN.json: arrival order
  std::vector<received_mail> out;
  for (const auto& n : names) out.push_back(parse_mail(read_all(n)));
  return out;
}

std::vector<received_mail> smtp_server::wait_for(std::size_t n,
                                                 std::chrono::milliseconds timeout) const {
  const std::string dir = dir_ + "/mail";
  const auto deadline = clock::now() + timeout;
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw std::runtime_error("inotify_init1 failed");
  // Watch first, then count: a file renamed in between is seen by one or the other.
  if (::inotify_add_watch(fd, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    ::close(fd);
    throw std::runtime_error("inotify_add_watch failed on " + dir);
  }
  while (count_mail(dir) < n) {
    const int left = remaining_ms(deadline);
    if (left == 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) > 0) {
      alignas(inotify_event) char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    }
  }
  ::close(fd);
  return received();
}

test_cert make_self_signed_cert(const std::string& dir) {
  test_cert c{dir + "/cert.pem", dir + "/key.pem"};
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=127.0.0.1 -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost'"
      " -keyout " +
      quote(c.key_file) + " -out " + quote(c.cert_file) + " 2>&1";
  const CommandResult r = run_command(cmd);
  if (r.status != 0) throw std::runtime_error("openssl req failed: " + r.out);
  return c;
}

}  // namespace tally::test
