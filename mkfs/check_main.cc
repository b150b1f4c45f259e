// vdofs-check: offline check (and repair) of a vdofs backing store.
//   vdofs-check [-n|--no-modify] [--repair] [-v] BACKING
// Exit status (as fsck): 0 consistent, 1 problems repaired, 4 problems left, 8 operational error,
// 16 usage error.
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/base/log.h"
#include "engine/io/file_device.h"
#include "engine/volume.h"
#include "engine/volume_check.h"

using namespace vdofs;

namespace {

bool g_progress = false;

void progress(const char* phase, uint64_t done, uint64_t total) {
  if (!g_progress) return;
  fprintf(stderr, "\rvdofs-check: %s: %3llu%%", phase,
          static_cast<unsigned long long>(total ? done * 100 / total : 100));
  if (done == total) fprintf(stderr, "\n");
}

void help() {
  printf(
      "usage: vdofs-check [options] BACKING\n"
      "\n"
      "Checks an unmounted vdofs backing store: every metadata block's checksum, every mapping's\n"
      "target, and that every data block's reference count equals the number of mappings to it.\n"
      "A volume that was not shut down cleanly is first recovered (its journal replayed) unless\n"
      "--no-modify is given.\n"
      "\n"
      "options:\n"
      "  --repair          rebuild the reference counts from the block map (VDO's force rebuild),\n"
      "                    unmap impossible mappings, reset unreadable block-map pages (their\n"
      "                    mappings are lost), and leave read-only mode; says what it changed\n"
      "  -n, --no-modify   never write: check only (a dirty volume is refused)\n"
      "  -v, --verbose     progress and every problem found\n"
      "  -h, --help        this help\n"
      "\n"
      "exit status: 0 consistent, 1 problems repaired, 4 problems left, 8 operational error,\n"
      "16 usage error\n");
}

int usage_error(const std::string& msg) {
  fprintf(stderr, "vdofs-check: %s (see vdofs-check --help)\n", msg.c_str());
  return 16;
}

}  // namespace

int main(int argc, char** argv) {
  enum { kRepair = 1000 };
  static const option longopts[] = {{"repair", no_argument, nullptr, kRepair},
                                    {"no-modify", no_argument, nullptr, 'n'},
                                    {"verbose", no_argument, nullptr, 'v'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  bool repair = false, no_modify = false, verbose = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "nvh", longopts, nullptr)) != -1) {
    switch (c) {
      case kRepair:
        repair = true;
        break;
      case 'n':
        no_modify = true;
        break;
      case 'v':
        verbose = true;
        break;
      case 'h':
        help();
        return 0;
      default:
        return usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind != argc - 1)
    return usage_error(optind == argc ? "missing BACKING" : "too many arguments");
  if (repair && no_modify) return usage_error("--repair and --no-modify contradict each other");
  const std::string backing = argv[optind];
  g_progress = verbose || isatty(2);
  log::set_prefix("vdofs-check");
  if (!verbose) log::set_level(log::Level::kWarning);

  io::FileDeviceOptions fo;
  fo.read_only = no_modify;
  auto dev = io::FileDevice::open(backing, fo);
  if (!dev) {
    fprintf(stderr, "vdofs-check: %s: %s\n", backing.c_str(),
            dev.error() == std::errc::device_or_resource_busy ? "in use (mounted by vdofs?)"
                                                              : dev.error().message().c_str());
    return 8;
  }
  auto header = engine::read_volume_header(**dev);
  if (!header) {
    fprintf(stderr, "vdofs-check: %s: %s\n", backing.c_str(),
            header.error() == make_error_code(errc::bad_magic) ? "not a vdofs volume"
                                                               : header.error().message().c_str());
    return 8;
  }
  format::VolumeState state = header->super.state;
  printf("%s: volume '%s', state %s\n", backing.c_str(), header->geometry.name.c_str(),
         format::state_name(state));

  if (state == format::VolumeState::kDirty && no_modify) {
    fprintf(stderr,
            "vdofs-check: %s: the volume was not shut down cleanly; run without --no-modify to "
            "recover it first\n",
            backing.c_str());
    return 8;
  }
  engine::CheckOptions co;
  co.repair = repair;
  co.max_reported = verbose ? 1000 : 20;
  co.progress = &progress;
  static std::string name;
  name = backing;
  auto report = engine::check_and_repair(
      **dev, co, [](const char* m) { printf("%s: %s\n", name.c_str(), m); });
  if (!report) {
    fprintf(stderr, "vdofs-check: %s: %s\n", backing.c_str(), report.error().message().c_str());
    return 8;
  }
  const engine::CheckReport& r = *report;
  printf(
      "%s: %llu of %llu logical blocks mapped (%llu to the zero block), %llu data blocks "
      "referenced %llu times, %llu block-map pages\n",
      backing.c_str(), static_cast<unsigned long long>(r.mapped_lbns),
      static_cast<unsigned long long>(r.logical_blocks),
      static_cast<unsigned long long>(r.zero_lbns),
      static_cast<unsigned long long>(r.referenced_blocks),
      static_cast<unsigned long long>(r.references), static_cast<unsigned long long>(r.tree_pages));
  for (const auto& p : r.problems) printf("  %s\n", p.c_str());
  uint64_t n = r.problem_count();
  if (n == 0) {
    printf("%s: consistent\n", backing.c_str());
    const bool left_read_only =
        state == format::VolumeState::kReadOnly || state == format::VolumeState::kForceRebuild;
    if (repair && left_read_only) {
      printf("%s: marked clean and writable (was %s)\n", backing.c_str(),
             format::state_name(state));
      return 1;
    }
    return 0;
  }
  printf(
      "%s: %llu problems: %llu reference counts wrong, %llu bad mappings, %llu unreadable "
      "block-map pages, %llu unreadable reference-count sectors\n",
      backing.c_str(), static_cast<unsigned long long>(n),
      static_cast<unsigned long long>(r.refcount_mismatches),
      static_cast<unsigned long long>(r.bad_mappings), static_cast<unsigned long long>(r.bad_pages),
      static_cast<unsigned long long>(r.bad_ref_sectors));
  if (r.repaired) {
    printf("%s: repaired: %llu blocks rewritten; the volume is clean and writable\n",
           backing.c_str(), static_cast<unsigned long long>(r.repairs));
    return 1;
  }
  printf("%s: run vdofs-check --repair to rebuild the reference counts\n", backing.c_str());
  return 4;
}
