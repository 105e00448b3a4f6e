#include "producers/loadgen/proc_cpu.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <memory>

namespace tally::loadgen {
namespace {

double ticks_to_s(unsigned long long ticks) {
  return double(ticks) / double(sysconf(_SC_CLK_TCK));
}

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

double machine_busy_s() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long v[8] = {};
  if (!(f >> cpu) || cpu != "cpu") return -1;
  for (auto& x : v) f >> x;
  return ticks_to_s(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);  // not idle, not iowait
}

double stat_cpu_s(std::string_view line) {
  // pid (comm) state ppid ...: utime and stime are fields 14 and 15, the 12th and 13th after
  // the name's closing parenthesis (the last one: a name may hold one).
  const auto close = line.rfind(')');
  if (close == std::string_view::npos) return -1;
  std::string_view rest = line.substr(close + 1);
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 15; ++field) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto end = rest.find(' ');
    const std::string_view token = rest.substr(0, end);
    if (token.empty()) return -1;
    if (field == 14 || field == 15) {
      unsigned long long v = 0;
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
      if (ec != std::errc() || p != token.data() + token.size()) return -1;
      (field == 14 ? utime : stime) = v;
    }
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  return ticks_to_s(utime + stime);
}

double process_cpu_s(int pid) {
  const auto line = first_line("/proc/" + std::to_string(pid) + "/stat");
  return line.empty() ? -1 : stat_cpu_s(line);
}

std::map<std::string, double> thread_cpu_s(int pid) {
  std::map<std::string, double> out;
  const std::string task = "/proc/" + std::to_string(pid) + "/task/";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(task.c_str()), closedir);
  if (!dir) return out;
  while (const dirent* e = readdir(dir.get())) {
    if (e->d_name[0] == '.') continue;
    const std::string base = task + e->d_name;
    const auto name = first_line(base + "/comm");
    const auto cpu = stat_cpu_s(first_line(base + "/stat"));
    if (name.empty() || cpu < 0) continue;  // a thread that ended meanwhile
    out[name] += cpu;
  }
  return out;
}

}  // namespace tally::loadgen
