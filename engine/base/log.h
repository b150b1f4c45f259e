// Minimal leveled logging to stderr (the daemon's log). Thread-safe: one write(2) per line.
#pragma once

#include <cstdarg>

namespace vdofs::log {

enum class Level { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

void set_level(Level level);
Level level();
void set_prefix(const char* prefix);  // e.g. "vdofs" -> "vdofs: message"
// Sends messages to syslog (daemon facility) instead of stderr.
void use_syslog(const char* ident);
// Appends messages to a file instead of stderr. False if it cannot be opened.
bool use_file(const char* path);

void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vdofs::log
