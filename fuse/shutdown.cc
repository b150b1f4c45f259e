#include "fuse/shutdown.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "engine/base/log.h"

extern char** environ;

namespace vdofs::fusefs {

namespace {

constexpr int kWakeSignal = SIGUSR1;  // finish(): the FUSE loop has ended

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, kWakeSignal);
  return set;
}

class FlushRequest final : public engine::UserRequest {
 public:
  void complete(std::error_code ec) override { promise_.set_value(ec); }
  std::error_code wait() { return future_.get(); }

 private:
  std::promise<std::error_code> promise_;
  std::future<std::error_code> future_ = promise_.get_future();
};

// Loop devices whose backing file is `path` ("loop0, loop3"), from /sys/block/loop*/loop.
std::string loop_devices_on(const std::string& path) {
  std::string found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    std::string dev = entry.path().filename();
    if (dev.rfind("loop", 0) != 0) continue;
    std::ifstream in(entry.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing) || backing != path) continue;
    found += (found.empty() ? "" : ", ") + dev;
  }
  return found;
}

}  // namespace

void Shutdown::block_signals() {
  sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void Shutdown::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "shutdownQ");
    run();
  });
}

void Shutdown::finish() {
  if (!thread_.joinable()) return;
  fs_.open_files().interrupt();
  pthread_kill(thread_.native_handle(), kWakeSignal);
  thread_.join();
}

void Shutdown::flush_all(const char* why) {
  for (auto& mv : fs_.volumes()) {
    FlushRequest r;
    mv.volume->submit_flush(&r);
    std::error_code ec = r.wait();
    if (ec)
      log::error("%s: %s: volume %s: the flush failed: %s", why, mv.backing.c_str(),
                 mv.name.c_str(), ec.message().c_str());
    else
      log::info("%s: volume %s is durable (flushed)", why, mv.name.c_str());
  }
}

std::string Shutdown::holders() const {
  std::string out;
  std::vector<uint32_t> counts = fs_.open_files().counts();
  std::error_code ec;
  std::string root = std::filesystem::canonical(mountpoint_, ec).string();
  if (ec) root = mountpoint_;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const std::string& name = fs_.volumes()[i].name;
    std::string loops = loop_devices_on(root + "/" + name);
    out += (out.empty() ? "" : "; ") + name + " is open " + std::to_string(counts[i]) + " time(s)" +
           (loops.empty() ? std::string(" (by a process)")
                          : " (loop device " + loops + ": unmount what is on it, losetup -d)");
  }
  return out;
}

bool Shutdown::unmount(std::string* why) const {
  if (geteuid() == 0) {
    if (umount2(mountpoint_.c_str(), UMOUNT_NOFOLLOW) == 0) return true;
    *why = strerror(errno);
    return false;
  }
  // An unprivileged mount is unmounted by the setuid helper, without -z: never lazily.
  const char* argv[] = {"fusermount3", "-u", "-q", "--", mountpoint_.c_str(), nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    *why = std::string("cannot run fusermount3: ") + strerror(errno);
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *why = "fusermount3 -u failed (busy?)";
  return false;
}

void Shutdown::run() {
  sigset_t set = stop_signals();
  siginfo_t info{};
  int sig;
  do {
    sig = sigwaitinfo(&set, &info);
  } while (sig < 0 && errno == EINTR);
  if (sig == kWakeSignal || sig < 0) return;
  const char* name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
  log::info("%s received (from pid %d): stopping once no volume file is open", name,
            static_cast<int>(info.si_pid));
  flush_all(name);
  OpenFiles& open = fs_.open_files();
  std::string last_logged;
  std::string unmount_error;
  while (!open.interrupted()) {
    std::vector<uint32_t> counts = open.counts();
    bool any_open = false;
    for (uint32_t c : counts) any_open |= c != 0;
    std::string state;
    if (!any_open) {
      std::string why;
      if (unmount(&why)) {
        log::info("%s: no volume file is open any more: unmounted %s", name, mountpoint_.c_str());
        return;
      }
      state = "waiting for " + mountpoint_ +
              " to be unmounted (fusermount3 -u): unmounting it failed: " + why;
    } else {
      state = "waiting for the volume files to be closed: " + holders();
    }
    if (state != last_logged) {
      log::info("%s: %s", name, state.c_str());
      last_logged = state;
    }
    // A failed unmount (a process with its working directory in the mount) is retried; a
    // release wakes the wait at once.
    open.wait_for_change(counts, std::chrono::seconds(any_open ? 60 : 2));
  }
}

}  // namespace vdofs::fusefs
