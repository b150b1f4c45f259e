#include "fuse/memory_protection.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

namespace vdofs::fusefs {

namespace {

constexpr const char kOomScoreAdj[] = "-1000";  // never chosen by the OOM killer

}  // namespace

std::vector<std::string> protect_from_memory_pressure() {
  std::vector<std::string> warnings;
  char buf[256];
  if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0) {
    snprintf(buf, sizeof buf,
             "cannot mark the daemon as an I/O flusher (PR_SET_IO_FLUSHER: %s; needs "
             "CAP_SYS_RESOURCE): under memory pressure it may wait for writeback through itself",
             strerror(errno));
    warnings.push_back(buf);
  }
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  ssize_t n = -1;
  if (fd >= 0) {
    n = write(fd, kOomScoreAdj, sizeof kOomScoreAdj - 1);
    int saved = errno;
    close(fd);
    errno = saved;
  }
  if (n != static_cast<ssize_t>(sizeof kOomScoreAdj - 1)) {
    snprintf(
        buf, sizeof buf,
        "cannot set oom_score_adj to %s (%s; needs CAP_SYS_RESOURCE): the OOM killer may stop the "
        "daemon under the filesystems it serves",
        kOomScoreAdj, strerror(errno));
    warnings.push_back(buf);
  }
  return warnings;
}

}  // namespace vdofs::fusefs
