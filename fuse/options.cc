#include "fuse/options.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "engine/base/size_parse.h"

namespace vdofs::fusefs {

namespace {

bool parse_uint(const std::string& v, uint32_t* out) {
  if (v.empty() || v.size() > 6) return false;
  for (char c : v)
    if (c < '0' || c > '9') return false;
  *out = static_cast<uint32_t>(std::stoul(v));
  return true;
}

bool parse_bool(const std::string& v, bool* out) {
  if (v == "on" || v == "1" || v == "yes" || v == "true") {
    *out = true;
    return true;
  }
  if (v == "off" || v == "0" || v == "no" || v == "false") {
    *out = false;
    return true;
  }
  return false;
}

// Applies one "key=value" (or "key") vdofs option. Returns 1 if taken, 0 if not ours, -1 on error.
int take_option(const std::string& opt, DaemonOptions* o, std::string* error) {
  auto eq = opt.find('=');
  std::string key = opt.substr(0, eq);
  std::string val = eq == std::string::npos ? "" : opt.substr(eq + 1);
  threads::ThreadCounts& t = o->volume.threads;
  struct {
    const char* name;
    uint32_t* field;
  } counts[] = {{"logical_zones", &t.logical},
                {"physical_zones", &t.physical},
                {"hash_zones", &t.hash},
                {"io_threads", &t.io},
                {"index_zones", &t.index},
                {"cpu_threads", &t.cpu},
                {"max_in_flight", &o->volume.max_in_flight},
                {"dedupe_timeout_ms", &o->volume.dedupe_timeout_ms}};
  for (auto& c : counts) {
    if (key != c.name) continue;
    if (!parse_uint(val, c.field)) {
      *error = "option " + key + " needs a number, got '" + val + "'";
      return -1;
    }
    return 1;
  }
  if (key == "dedupe") {
    if (!parse_bool(val, &o->volume.dedupe)) {
      *error = "option dedupe must be on or off";
      return -1;
    }
    return 1;
  }
  if (key == "single_thread") {
    t.single_thread = true;
    return 1;
  }
  if (key == "block_map_cache") {
    auto sz = parse_size(val);
    if (!sz || *sz < (1u << 20)) {
      *error = "option block_map_cache needs a size of at least 1M, got '" + val + "'";
      return -1;
    }
    o->volume.block_map_cache_pages = *sz / kBlockSize;
    return 1;
  }
  if (key == "direct_io") {
    if (!parse_bool(val, &o->direct_io)) {
      *error = "option direct_io must be on or off";
      return -1;
    }
    return 1;
  }
  if (key == "logfile") {
    o->logfile = val;
    return 1;
  }
  if (key == "write_log") {
    if (val.empty()) {
      *error = "option write_log needs a file name";
      return -1;
    }
    o->write_log = val;
    return 1;
  }
  if (key == "ro") {
    o->read_only = true;
    o->volume.read_only = true;
    return 0;  // libfuse sees it too
  }
  return 0;
}

}  // namespace

void print_daemon_help(const char* argv0) {
  printf(
      "usage: %s [options] BACKING... MOUNTPOINT\n"
      "\n"
      "Serves each vdofs-formatted BACKING (file or block device) as the file MOUNTPOINT/NAME,\n"
      "a deduplicated volume whose size is the volume's logical size. Use it like a disk:\n"
      "  losetup -f --show --sector-size 4096 --direct-io=on MOUNTPOINT/NAME\n"
      "\n"
      "options:\n"
      "  -f                     stay in the foreground (log to stderr)\n"
      "  -d, --debug            debug: foreground, verbose engine and FUSE logging\n"
      "  -s                     accepted for compatibility (the engine has its own threads)\n"
      "  -h, --help             this help\n"
      "  -V, --version          print the version\n"
      "  -o OPT[,OPT...]        vdofs options (below) and FUSE mount options\n"
      "\n"
      "vdofs -o options (fixed for the life of the mount):\n"
      "  logical_zones=N        logical zone threads logQ0.. (1-60)\n"
      "  physical_zones=N       physical zone threads physQ0.. (1-16, at most one per slab)\n"
      "  hash_zones=N           hash zone threads hashQ0.. (1-100)\n"
      "  io_threads=N           I/O threads bioQ0.. (1-100)\n"
      "  index_zones=N          dedupe index threads indexQ0.. (1-16)\n"
      "  cpu_threads=N          SHA-256 hashing threads (oneTBB arena; 0 = one per CPU)\n"
      "  max_in_flight=N        block operations in flight before intake blocks (16-65536,\n"
      "                         default 2048, as VDO)\n"
      "  single_thread          run every engine zone on one thread reqQ (debugging)\n"
      "  dedupe=on|off          deduplication (default on; zero blocks are always elided)\n"
      "  dedupe_timeout_ms=N    index lookups slower than this proceed without dedupe (5000)\n"
      "  block_map_cache=SIZE   block-map leaf page cache, split over logical zones (128M)\n"
      "  direct_io=on|off       data blocks bypass the backing store's page cache with O_DIRECT\n"
      "                         (default on; metadata is always cached)\n"
      "  logfile=PATH           append the daemon's log to PATH (default: syslog when in the\n"
      "                         background, stderr with -f)\n"
      "  write_log=PATH         record every write and flush of BACKING in PATH, for\n"
      "                         vdofs-replay-log (testing; one BACKING only)\n"
      "  ro                     read-only: serve reads, refuse writes, never write BACKING\n"
      "\n"
      "Unmount with: fusermount3 -u MOUNTPOINT (or send SIGTERM): a clean shutdown.\n"
      "Statistics: vdofs-stats MOUNTPOINT\n",
      argv0);
}

bool parse_daemon_options(int argc, char** argv, DaemonOptions* o, std::string* error) {
  o->volume.threads = threads::ThreadCounts::defaults_for_machine();
  o->fuse_args.push_back(argv[0]);
  std::vector<std::string> positional;
  std::vector<std::string> fuse_opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      o->show_help = true;
    } else if (a == "-V" || a == "--version") {
      o->show_version = true;
    } else if (a == "-f") {
      o->foreground = true;
    } else if (a == "-d" || a == "--debug") {
      o->debug = true;
      o->foreground = true;
    } else if (a == "-s") {
      // single-threaded FUSE loop: accepted for compatibility, the engine has its own threads
    } else if (a == "-o" || a.rfind("-o", 0) == 0) {
      std::string list;
      if (a == "-o") {
        if (i + 1 >= argc) {
          *error = "-o needs an argument";
          return false;
        }
        list = argv[++i];
      } else {
        list = a.substr(2);
      }
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string opt =
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!opt.empty()) {
          int r = take_option(opt, o, error);
          if (r < 0) return false;
          if (r == 0) fuse_opts.push_back(opt);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (!a.empty() && a[0] == '-') {
      *error = "unknown option '" + a + "' (see --help)";
      return false;
    } else {
      positional.push_back(a);
    }
  }
  if (o->show_help || o->show_version) return true;
  if (positional.size() < 2) {
    *error = positional.empty()
                 ? "missing BACKING and MOUNTPOINT (see --help)"
                 : "missing MOUNTPOINT (usage: vdofs [options] BACKING... MOUNTPOINT)";
    return false;
  }
  o->mountpoint = positional.back();
  positional.pop_back();
  o->backings = positional;
  if (!o->write_log.empty() && o->backings.size() != 1) {
    *error = "write_log needs exactly one BACKING";
    return false;
  }
  if (o->volume.max_in_flight < 16 || o->volume.max_in_flight > 65536) {
    *error = "max_in_flight must be 16..65536";
    return false;
  }
  if (o->volume.dedupe_timeout_ms < 1 || o->volume.dedupe_timeout_ms > 600000) {
    *error = "dedupe_timeout_ms must be 1..600000";
    return false;
  }
  std::string bad = o->volume.threads.validate();
  if (!bad.empty()) {
    *error = bad;
    return false;
  }
  // The kernel checks the volume files' owner-only modes itself; without this, allow_other
  // would let any local user read and write the raw blocks of the filesystem on a volume.
  if (std::find(fuse_opts.begin(), fuse_opts.end(), "default_permissions") == fuse_opts.end())
    fuse_opts.push_back("default_permissions");
  fuse_opts.push_back("fsname=vdofs");
  fuse_opts.push_back("subtype=vdofs");
  std::string joined;
  for (auto& f : fuse_opts) joined += (joined.empty() ? "" : ",") + f;
  o->fuse_args.push_back("-o");
  o->fuse_args.push_back(joined);
  if (o->debug) o->fuse_args.push_back("-d");
  return true;
}

}  // namespace vdofs::fusefs
