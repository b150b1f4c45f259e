// vdofs: the daemon. Opens (and if needed recovers) every backing store before mounting, so any
// problem is reported on the terminal with a non-zero exit; then mounts, goes to the background
// (unless -f), starts the engine threads and serves until unmounted, or until signalled and no
// volume file is open any more (fuse/shutdown.h).
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "engine/base/log.h"
#include "engine/io/file_device.h"
#include "engine/io/write_log_device.h"
#include "fuse/filesystem.h"
#include "fuse/memory_protection.h"
#include "fuse/options.h"
#include "fuse/shutdown.h"

using namespace vdofs;

namespace {

int fail(const std::string& what, const std::string& why) {
  fprintf(stderr, "vdofs: %s: %s\n", what.c_str(), why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep large buffers (1 MiB reads, metadata batches) in the heap instead of an mmap/munmap
  // per request: fresh pages are expensive to touch (and very much so in VMs with free-page
  // reporting), reused ones are not.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  log::set_prefix("vdofs");
  fusefs::DaemonOptions opts;
  std::string error;
  if (!fusefs::parse_daemon_options(argc, argv, &opts, &error)) {
    fprintf(stderr, "vdofs: %s\n", error.c_str());
    return 2;
  }
  if (opts.show_help) {
    fusefs::print_daemon_help(argv[0]);
    return 0;
  }
  if (opts.show_version) {
    printf("vdofs %s (libfuse %s)\n", VDOFS_VERSION, fuse_pkgversion());
    return 0;
  }
  if (opts.debug) log::set_level(log::Level::kDebug);
  if (!opts.logfile.empty() && !log::use_file(opts.logfile.c_str()))
    return fail(opts.logfile, std::string("cannot open the log file: ") + strerror(errno));
  // Before any thread exists: every thread inherits the signal mask and the I/O-flusher flag.
  fusefs::Shutdown::block_signals();
  std::vector<std::string> protection_warnings = fusefs::protect_from_memory_pressure();

  struct stat mst {};
  if (stat(opts.mountpoint.c_str(), &mst) != 0) return fail(opts.mountpoint, strerror(errno));
  if (!S_ISDIR(mst.st_mode)) return fail(opts.mountpoint, "mountpoint is not a directory");

  std::vector<fusefs::MountedVolume> volumes;
  std::set<std::string> names;
  opts.volume.defer_start = true;
  // Recovery (journal replay) runs after the mount, so vdofs-stats can show "recovering" and
  // I/O simply waits for it; everything that can be checked quickly is checked before mounting.
  opts.volume.defer_recovery = true;
  for (const std::string& backing : opts.backings) {
    io::FileDeviceOptions fo;
    fo.read_only = opts.read_only;
    fo.direct_aligned = opts.direct_io;
    auto dev = io::FileDevice::open(backing, fo);
    if (!dev) {
      if (dev.error() == std::errc::device_or_resource_busy)
        return fail(backing, "in use (another vdofs or mkfs.vdofs holds it)");
      return fail(backing, dev.error().message());
    }
    auto header = engine::read_volume_header(**dev);
    if (!header) {
      std::error_code ec = header.error();
      if (ec == make_error_code(errc::bad_magic))
        return fail(backing,
                    "not a vdofs volume (no vdofs geometry block; format it with mkfs.vdofs)");
      if (ec == make_error_code(errc::checksum_mismatch) || ec == make_error_code(errc::bad_nonce))
        return fail(backing, "the super block is corrupt (" + ec.message() + "); see vdofs-check");
      return fail(backing, ec.message());
    }
    if (!names.insert(header->geometry.name).second)
      return fail(backing,
                  "a volume named '" + header->geometry.name + "' is already in this mount");
    fusefs::MountedVolume mv;
    mv.name = header->geometry.name;
    mv.backing = backing;
    mv.device = std::move(*dev);
    if (!opts.write_log.empty()) {
      auto logged = io::WriteLogDevice::create(std::move(mv.device), opts.write_log);
      if (!logged)
        return fail(opts.write_log, "cannot create the write log: " + logged.error().message());
      mv.device = std::move(*logged);
      log::info("%s: recording every write and flush in %s", backing.c_str(),
                opts.write_log.c_str());
    }
    auto vol = engine::Volume::open(*mv.device, opts.volume);
    if (!vol) return fail(backing, "cannot open the volume: " + vol.error().message());
    log::info("%s: volume %s: %llu MiB logical on %llu MiB physical%s", backing.c_str(),
              header->geometry.name.c_str(),
              static_cast<unsigned long long>((*vol)->logical_bytes() >> 20),
              static_cast<unsigned long long>(header->geometry.physical_blocks * kBlockSize >> 20),
              (*vol)->is_read_only() ? " (read-only)" : "");
    mv.volume = std::move(*vol);
    volumes.push_back(std::move(mv));
  }

  for (const std::string& w : protection_warnings) log::warning("%s", w.c_str());
  fusefs::Filesystem fs(std::move(volumes));
  std::vector<char*> fargv;
  for (auto& a : opts.fuse_args) fargv.push_back(a.data());
  struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), fargv.data());
  struct fuse_session* se =
      fuse_session_new(&args, &fusefs::Filesystem::operations(), sizeof(fuse_lowlevel_ops), &fs);
  if (!se) {
    fs.close_all();
    return fail(opts.mountpoint, "cannot create the FUSE session (bad -o option?)");
  }
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    fs.close_all();
    return fail(opts.mountpoint, "mount failed (is /dev/fuse usable? is it already mounted?)");
  }
  if (!opts.foreground) {
    if (opts.logfile.empty()) log::use_syslog("vdofs");
    if (fuse_daemonize(0) != 0) {
      fuse_session_unmount(se);
      fs.close_all();
      return 1;
    }
  }
  log::info("mounted %zu volume(s) at %s (pid %d)", fs.volumes().size(), opts.mountpoint.c_str(),
            getpid());
  fusefs::Shutdown shutdown(fs, opts.mountpoint);
  shutdown.start();
  std::thread recoverer([&fs] {
    pthread_setname_np(pthread_self(), "recoverQ");
    for (auto& mv : fs.volumes()) {
      auto r = mv.volume->recover();
      if (!r) {
        log::error(
            "%s: volume %s cannot be recovered (%s); its I/O fails until vdofs-check --repair",
            mv.backing.c_str(), mv.name.c_str(), r.error().message().c_str());
      }
      mv.volume->start();
    }
  });

  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 16);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  int ret = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);

  shutdown.finish();
  recoverer.join();
  log::info("unmounting %s", opts.mountpoint.c_str());
  // The loop ends when the kernel ends the connection (unmounted, by us or by fusermount3 -u):
  // libfuse then sees the aborted connection and does not unmount again.
  fuse_session_unmount(se);
  bool clean = fs.close_all();
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  bool stopped = ret == 0;
  if (!stopped) log::error("the FUSE loop failed (%d)", ret);
  return (stopped && clean) ? 0 : 1;
}
