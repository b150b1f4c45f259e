// The FUSE side of the daemon: one directory (the mountpoint) holding one regular file per volume.
// libfuse's low-level worker threads call the handlers in fuse_ops.cc; I/O handlers copy what
// they need, hand the request to the volume's engine and return. The engine replies later, from
// its own threads, through the FuseReply requests in fuse_ops.cc. This is the one place where
// errors become errnos (to_errno).
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/block_device.h"
#include "engine/volume.h"
#include "fuse/open_files.h"

namespace vdofs::fusefs {

struct MountedVolume {
  std::string name;
  std::string backing;
  std::unique_ptr<io::BlockDevice> device;  // a FileDevice, or a WriteLogDevice over one
  std::unique_ptr<engine::Volume> volume;
};

class Filesystem {
 public:
  explicit Filesystem(std::vector<MountedVolume> volumes);

  static const fuse_lowlevel_ops& operations();

  MountedVolume* volume_of(fuse_ino_t ino);
  fuse_ino_t ino_of(size_t index) const { return 2 + index; }
  std::vector<MountedVolume>& volumes() { return volumes_; }
  void fill_attr(fuse_ino_t ino, struct stat* st);

  // FUSE requests handed to an engine and not yet answered.
  void request_started() { outstanding_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() {
    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) outstanding_.notify_all();
  }
  void wait_for_requests();

  // Opens of each volume file not yet released (indexed like volumes()).
  OpenFiles& open_files() { return open_files_; }

  // Clean shutdown of every volume; returns false if any failed (logged).
  bool close_all();

 private:
  std::vector<MountedVolume> volumes_;
  struct timespec mounted_at_ {};
  std::atomic<uint64_t> outstanding_{0};
  OpenFiles open_files_;
};

}  // namespace vdofs::fusefs
