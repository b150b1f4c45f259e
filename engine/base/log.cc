#include "engine/base/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace vdofs::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<const char*> g_prefix{"vdofs"};
std::atomic<bool> g_syslog{false};
std::atomic<int> g_fd{2};

void emit(Level lv, const char* tag, const char* fmt, va_list ap) {
  if (static_cast<int>(lv) > g_level.load(std::memory_order_relaxed)) return;
  char line[1024];
  if (g_syslog.load(std::memory_order_relaxed)) {
    int n0 = snprintf(line, sizeof line, "%s", tag);
    vsnprintf(line + (n0 > 0 ? n0 : 0), sizeof line - static_cast<size_t>(n0 > 0 ? n0 : 0), fmt,
              ap);
    int pri = lv == Level::kError     ? LOG_ERR
              : lv == Level::kWarning ? LOG_WARNING
              : lv == Level::kInfo    ? LOG_INFO
                                      : LOG_DEBUG;
    syslog(pri, "%s", line);
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv{};
  localtime_r(&ts.tv_sec, &tmv);
  int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s: %s", tmv.tm_hour, tmv.tm_min,
                   tmv.tm_sec, ts.tv_nsec / 1000000, g_prefix.load(), tag);
  if (n < 0) return;
  size_t used = static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1;
  int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
  if (m > 0)
    used += static_cast<size_t>(m) < sizeof line - used ? static_cast<size_t>(m)
                                                        : sizeof line - used - 1;
  if (used >= sizeof line - 1) used = sizeof line - 2;
  line[used++] = '\n';
  ssize_t w = ::write(g_fd.load(std::memory_order_relaxed), line, used);
  (void)w;
}

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }
void set_prefix(const char* prefix) { g_prefix.store(prefix); }

void use_syslog(const char* ident) {
  openlog(ident, LOG_PID, LOG_DAEMON);
  g_syslog.store(true);
}

bool use_file(const char* path) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  g_fd.store(fd);
  return true;
}

#define VDOFS_LOG_FN(name, lv, tag) \
  void name(const char* fmt, ...) { \
    va_list ap;                     \
    va_start(ap, fmt);              \
    emit(lv, tag, fmt, ap);         \
    va_end(ap);                     \
  }
VDOFS_LOG_FN(error, Level::kError, "error: ")
VDOFS_LOG_FN(warning, Level::kWarning, "warning: ")
VDOFS_LOG_FN(info, Level::kInfo, "")
VDOFS_LOG_FN(debug, Level::kDebug, "debug: ")
#undef VDOFS_LOG_FN

}  // namespace vdofs::log
