// CPU time read from /proc, for tally-loadgen's report of what the machine, the server and the
// broker spent over the measured window: the machine's busy seconds, a process's, and each
// thread's of a process by name (tally serve names its threads: tally-http, tally-writer, ...),
// so a run can say what each thread costs per request or event.
// Thread-safety: pure functions of /proc.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace tally::loadgen {

// Busy CPU seconds of the whole machine (all cores) from /proc/stat's first line: everything but
// idle and iowait. -1 if unreadable.
double machine_busy_s();

// utime + stime of a process, seconds (/proc/<pid>/stat); -1 if unreadable.
double process_cpu_s(int pid);

// utime + stime of each thread of a process, seconds, summed by thread name (threads of one
// name, librdkafka's or RocksDB's, count as one); empty if unreadable.
std::map<std::string, double> thread_cpu_s(int pid);

// utime + stime, seconds, from the text of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat
// file (the name between parentheses may hold spaces and parentheses); -1 if malformed.
double stat_cpu_s(std::string_view stat_line);

}  // namespace tally::loadgen
