// mkfs.vdofs: formats a regular file (created or extended to --physical-size) or a block device.
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/base/size_parse.h"
#include "engine/format/geometry.h"
#include "engine/format/layout.h"
#include "engine/io/file_device.h"
#include "index/index.h"
#include "mkfs/formatter.h"
#include "mkfs/signatures.h"

using namespace vdofs;

namespace {

const char* g_backing = "";
bool g_progress = false;
bool g_created = false;  // this run created the file: remove it if formatting fails

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "mkfs.vdofs: %s: %s\n", g_backing, msg.c_str());
  if (g_created) unlink(g_backing);
  exit(1);
}

[[noreturn]] void usage_error(const std::string& msg) {
  fprintf(stderr, "mkfs.vdofs: %s (see mkfs.vdofs --help)\n", msg.c_str());
  exit(2);
}

void help() {
  printf(
      "usage: mkfs.vdofs [options] BACKING\n"
      "\n"
      "Formats BACKING as a vdofs deduplicated volume. BACKING is a regular file (created, or\n"
      "extended, to --physical-size) or a block device. Formatting takes time proportional to the\n"
      "physical size only: a 1 PiB logical volume formats as fast as a 1 GiB one.\n"
      "\n"
      "options:\n"
      "  --physical-size SIZE   space to use (default: the whole device or existing file)\n"
      "  --logical-size SIZE    size of the volume as seen by users (default: about the physical\n"
      "                         data capacity, 1:1); may exceed the physical size (thin)\n"
      "  --name NAME            file name of the volume inside the mount (default: BACKING's base\n"
      "                         name without extension)\n"
      "  --slab-size SIZE       allocation unit of physical space, a power of two from 64K to\n"
      "                         32G (default: about 1/16 of the device, 16M..2G); fixes the "
      "largest\n"
      "                         physical size the volume can reach (8192 slabs)\n"
      "  --index-memory SIZE    RAM for the dedupe index, 16M or more (default: 4 bytes per\n"
      "                         physical block, a dedupe window as large as the volume)\n"
      "  --sparse-index         sparse index: a 10x larger dedupe window in the same RAM\n"
      "  --journal-size SIZE    recovery journal, a power of two from 64K to 4G (default: about\n"
      "                         1/128 of the device, 256K..128M)\n"
      "  --force                format over an existing vdofs volume or filesystem signature\n"
      "  -v, --verbose          show progress and the full layout\n"
      "  -q, --quiet            print nothing on success\n"
      "  -V, --version          print the version\n"
      "  -h, --help             this help\n"
      "\n"
      "SIZE takes the suffixes K, M, G, T, P (powers of 1024); sizes must be multiples of 4K.\n"
      "Example: mkfs.vdofs --logical-size 1T --physical-size 100G /srv/vdo/vol0.img\n");
}

uint64_t size_arg(const char* opt, const char* v) {
  auto s = parse_size(v);
  if (!s) usage_error(std::string("invalid size for ") + opt + ": '" + v + "'");
  if (*s % kBlockSize != 0)
    usage_error(std::string(opt) + " " + v + " is not a multiple of 4096 bytes");
  return *s;
}

void progress(uint64_t done, uint64_t total) {
  if (!g_progress) return;
  if (done == total || done % std::max<uint64_t>(1, total / 100) == 0) {
    fprintf(stderr, "\rmkfs.vdofs: writing reference counts: %3llu%% (%llu/%llu slabs)",
            static_cast<unsigned long long>(done * 100 / total),
            static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    if (done == total) fprintf(stderr, "\n");
  }
}

std::string default_name(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  auto dot = base.find('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  if (base.size() > format::kMaxNameLength) base = base.substr(0, format::kMaxNameLength);
  return base.empty() ? "vol0" : base;
}

}  // namespace

int main(int argc, char** argv) {
  enum { kLogical = 1000, kPhysical, kName, kSlab, kIndexMemory, kSparse, kForce, kJournal };
  static const option longopts[] = {{"logical-size", required_argument, nullptr, kLogical},
                                    {"physical-size", required_argument, nullptr, kPhysical},
                                    {"name", required_argument, nullptr, kName},
                                    {"slab-size", required_argument, nullptr, kSlab},
                                    {"index-memory", required_argument, nullptr, kIndexMemory},
                                    {"sparse-index", no_argument, nullptr, kSparse},
                                    {"journal-size", required_argument, nullptr, kJournal},
                                    {"force", no_argument, nullptr, kForce},
                                    {"verbose", no_argument, nullptr, 'v'},
                                    {"quiet", no_argument, nullptr, 'q'},
                                    {"version", no_argument, nullptr, 'V'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  uint64_t logical = 0, physical = 0, slab = 0, index_memory = 0, journal = 0;
  std::string name;
  bool sparse = false, force = false, verbose = false, quiet = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "vqVh", longopts, nullptr)) != -1) {
    switch (c) {
      case kLogical:
        logical = size_arg("--logical-size", optarg);
        break;
      case kPhysical:
        physical = size_arg("--physical-size", optarg);
        break;
      case kName:
        name = optarg;
        break;
      case kSlab:
        slab = size_arg("--slab-size", optarg);
        break;
      case kIndexMemory:
        index_memory = size_arg("--index-memory", optarg);
        break;
      case kJournal:
        journal = size_arg("--journal-size", optarg);
        break;
      case kSparse:
        sparse = true;
        break;
      case kForce:
        force = true;
        break;
      case 'v':
        verbose = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'V':
        printf("mkfs.vdofs %s (on-disk format %u)\n", VDOFS_VERSION, format::kFormatVersion);
        return 0;
      case 'h':
        help();
        return 0;
      default:
        usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind != argc - 1) usage_error(optind == argc ? "missing BACKING" : "too many arguments");
  g_backing = argv[optind];
  const std::string backing = g_backing;
  g_progress = verbose || (!quiet && isatty(2));

  if (!name.empty() && (name.size() > format::kMaxNameLength ||
                        name.find('/') != std::string::npos || name == "." || name == ".."))
    usage_error("--name must be 1-63 characters without '/'");
  if (name.empty()) name = default_name(backing);
  if (index_memory && index_memory < index::kMinIndexMemory)
    usage_error("--index-memory must be at least 16M");
  uint32_t slab_bits = 0;
  if (slab) {
    if ((slab & (slab - 1)) != 0) usage_error("--slab-size must be a power of two");
    uint64_t blocks = slab / kBlockSize;
    while ((uint64_t{1} << slab_bits) < blocks) ++slab_bits;
    if (slab_bits < format::kMinSlabBits || slab_bits > format::kMaxSlabBits)
      usage_error("--slab-size must be between 64K and 32G");
  }
  uint32_t journal_blocks = 0;
  if (journal) {
    uint64_t jb = journal / kBlockSize;
    if ((jb & (jb - 1)) != 0 || jb < 16 || jb > (1u << 20))
      usage_error("--journal-size must be a power of two from 64K to 4G");
    journal_blocks = static_cast<uint32_t>(jb);
  }
  if (logical > kMaxLogicalBlocks * kBlockSize)
    usage_error("--logical-size is larger than the 4P maximum");

  // Create or extend a regular file; check a block device's size.
  struct stat st {};
  bool exists = stat(backing.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) die(strerror(errno));
  if (exists && S_ISDIR(st.st_mode)) die("is a directory");
  if (exists && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    die("not a regular file or block device");
  bool created = false;
  if (!exists) {
    if (!physical) die("does not exist; give --physical-size to create it");
    int fd = ::open(backing.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) die(std::string("cannot create: ") + strerror(errno));
    ::close(fd);
    created = true;
    g_created = true;
  }
  io::FileDeviceOptions fopts;
  auto dev_or = io::FileDevice::open(backing, fopts);
  if (!dev_or) {
    if (dev_or.error() == std::errc::device_or_resource_busy) die("in use (mounted by vdofs?)");
    die(dev_or.error().message());
  }
  auto& dev = **dev_or;
  uint64_t have = dev.block_count() * kBlockSize;
  if (!dev.is_block_device()) {
    if (have % kBlockSize != 0 && !physical)
      die("file size is not a multiple of 4096 bytes; give --physical-size");
    if (physical > have) {
      if (ftruncate(dev.fd(), static_cast<off_t>(physical)) != 0)
        die(std::string("cannot extend: ") + strerror(errno));
    }
    if (!physical) physical = have;
    if (physical == 0) die("is empty; give --physical-size");
  } else {
    if (physical > have)
      die("--physical-size is larger than the device (" + format_size(have) + ")");
    if (!physical) physical = have - have % kBlockSize;
  }

  if (!created && !force) {
    auto sig = mkfs::detect_signature(dev);
    if (!sig) die("cannot read: " + sig.error().message());
    if (!sig->empty()) {
      die("already holds " + *sig + "; use --force to format over it");
    }
  }

  // Reopen so the device sees the new size.
  dev_or->reset();
  dev_or = io::FileDevice::open(backing, fopts);
  if (!dev_or) die(dev_or.error().message());

  mkfs::FormatOptions fo;
  fo.physical_blocks = physical / kBlockSize;
  fo.logical_blocks = logical / kBlockSize;
  fo.slab_bits = slab_bits;
  fo.index_memory = index_memory;
  fo.sparse_index = sparse;
  fo.journal_blocks = journal_blocks;
  fo.name = name;
  mkfs::FormatPlan partial;
  auto plan = mkfs::plan_format(fo, &partial);
  if (!plan) {
    if (plan.error() == make_error_code(errc::too_small))
      die(format_size(physical) + " is too small: this volume needs at least " +
          format_size(partial.minimum_physical_blocks * kBlockSize) +
          " (metadata, dedupe index and one slab); give a larger --physical-size or a smaller "
          "--slab-size/--index-memory");
    die("cannot plan the format: " + plan.error().message());
  }
  auto done = mkfs::format_volume(**dev_or, fo, progress);
  if (!done) {
    die("format failed: " + done.error().message());
  }
  g_created = false;
  if (quiet) return 0;
  const auto& g = done->geometry;
  format::Layout layout(g);
  printf("Formatted %s as vdofs volume '%s' (uuid %s)\n", backing.c_str(), g.name.c_str(),
         g.uuid_string().c_str());
  printf("  logical size:        %s (%llu blocks)\n",
         format_size(done->logical_blocks * kBlockSize).c_str(),
         static_cast<unsigned long long>(done->logical_blocks));
  printf("  physical size:       %s\n", format_size(g.physical_blocks * kBlockSize).c_str());
  printf("  data capacity:       %s\n",
         format_size(done->data_capacity_blocks * kBlockSize).c_str());
  printf("  slabs:               %llu x %s\n", static_cast<unsigned long long>(done->slab_count),
         format_size(layout.slab_blocks() * kBlockSize).c_str());
  printf("  can grow to:         %s physical (8192 slabs)\n",
         format_size(done->max_physical_blocks * kBlockSize).c_str());
  printf("  dedupe index:        %s RAM, %s (%s on disk)\n", format_size(g.index_memory).c_str(),
         g.sparse_index ? "sparse" : "dense",
         format_size(layout.index_blocks() * kBlockSize).c_str());
  printf("  recovery journal:    %s\n",
         format_size(uint64_t{layout.journal_blocks()} * kBlockSize).c_str());
  if (verbose) {
    for (const auto& r : g.regions)
      printf("  region %u: blocks %llu..%llu\n", static_cast<unsigned>(r.id),
             static_cast<unsigned long long>(r.start), static_cast<unsigned long long>(r.end()));
  }
  return 0;
}
