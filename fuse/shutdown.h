// How the daemon stops on SIGTERM, SIGINT or SIGHUP without stranding a busy volume.
//
// Those signals are blocked in every thread (block_signals(), first thing in main, so every
// thread created later inherits the mask) and taken by one thread, shutdownQ, with sigwaitinfo.
// On a stop signal it makes every volume durable (what an fsync of each volume file does), then
// waits until no volume file is open (the FUSE release of the last open, e.g. losetup -d) and
// unmounts the mountpoint, never lazily: the FUSE loop then ends as it does on fusermount3 -u.
// Until then the daemon serves as before; the log says what it waits for (by loop device name
// where a loop device holds a volume). An explicit unmount ends the loop too; the main thread
// then calls finish(), which stops and joins shutdownQ.
#pragma once

#include <string>
#include <thread>

#include "fuse/filesystem.h"

namespace vdofs::fusefs {

class Shutdown {
 public:
  // Blocks SIGTERM, SIGINT, SIGHUP and the internal wake-up signal in the calling thread and
  // ignores SIGPIPE. Call before any other thread starts.
  static void block_signals();

  Shutdown(Filesystem& fs, std::string mountpoint) : fs_(fs), mountpoint_(std::move(mountpoint)) {}
  ~Shutdown() { finish(); }
  Shutdown(const Shutdown&) = delete;
  Shutdown& operator=(const Shutdown&) = delete;

  void start();   // after fuse_daemonize (a fork keeps only the calling thread)
  void finish();  // the FUSE loop has ended

 private:
  void run();
  void flush_all(const char* why);
  std::string holders() const;
  bool unmount(std::string* why) const;

  Filesystem& fs_;
  std::string mountpoint_;
  std::thread thread_;
};

}  // namespace vdofs::fusefs
