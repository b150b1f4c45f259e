// vdofs-replay-log: rebuilds a backing store from a write log (vdofs -o write_log=PATH) at a
// flush point, or at a crash point between two flushes with a random subset of the unflushed
// writes kept and one of them torn at a 512-byte sector, as a power failure could leave it.
//   vdofs-replay-log --list LOG
//   vdofs-replay-log --base IMAGE --out IMAGE (--flush K | --between K [--seed S]) LOG
// Prints one JSON object describing what it did. The log format is in docs/write-log.md.
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/base/crc32c.h"
#include "engine/io/write_log_device.h"

using namespace vdofs;
namespace wl = vdofs::io::write_log;

namespace {

struct Entry {
  uint32_t type;
  uint64_t arg;     // write: block; flush: writes it covers
  uint64_t blocks;  // write: length in blocks
  uint64_t data;    // file offset of the data
  uint64_t end;     // file offset just past the record
};

struct Log {
  wl::Header header;
  std::vector<Entry> writes;                  // in log order
  std::vector<Entry> flushes;                 // in log order
  std::vector<uint64_t> writes_before_flush;  // writes logged before each flush record
  uint64_t valid_bytes = 0;
  uint64_t file_bytes = 0;
  bool torn_tail = false;
};

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "vdofs-replay-log: %s\n", msg.c_str());
  exit(1);
}

void pread_all(int fd, void* buf, size_t len, uint64_t off, const char* what) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t r = ::pread(fd, p, len, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die(std::string(what) + ": read failed: " + (r < 0 ? strerror(errno) : "short"));
    p += r;
    len -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
}

void pwrite_all(int fd, const void* buf, size_t len, uint64_t off, const char* what) {
  const auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t r = ::pwrite(fd, p, len, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die(std::string(what) + ": write failed: " + (r < 0 ? strerror(errno) : "short"));
    p += r;
    len -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
}

// Reads every record; stops at the first one that is cut short or fails its checksum (the tail a
// killed daemon may leave).
Log scan(int fd, const std::string& path) {
  Log log;
  struct stat st {};
  if (fstat(fd, &st) != 0) die(path + ": " + strerror(errno));
  log.file_bytes = static_cast<uint64_t>(st.st_size);
  if (log.file_bytes < wl::kHeaderBytes) die(path + ": too short for a write log");
  std::byte hdr[wl::kHeaderBytes];
  pread_all(fd, hdr, sizeof hdr, 0, path.c_str());
  auto h = wl::decode_header(hdr);
  if (!h) die(path + ": not a vdofs write log (" + h.error().message() + ")");
  log.header = *h;
  uint64_t pos = wl::kHeaderBytes;
  uint64_t seq = 0;
  std::vector<std::byte> buf(1 << 20);
  while (pos + wl::kRecordBytes <= log.file_bytes) {
    std::byte rb[wl::kRecordBytes];
    pread_all(fd, rb, sizeof rb, pos, path.c_str());
    wl::Record r = wl::decode_record(rb);
    bool sane =
        r.seq == seq &&
        ((r.type == wl::kWrite && r.blocks > 0 && r.arg + r.blocks <= log.header.device_blocks) ||
         (r.type == wl::kFlush && r.blocks == 0));
    if (!sane) break;
    uint64_t data = pos + wl::kRecordBytes;
    uint64_t len = r.blocks * kBlockSize;
    if (data + len > log.file_bytes) break;
    // The checksum covers the header (crc zero) and the data, read in chunks.
    wl::Record z = r;
    z.crc = 0;
    std::byte zb[wl::kRecordBytes];
    wl::encode_record(z, zb);
    uint32_t crc = crc32c(zb, sizeof zb);
    for (uint64_t done = 0; done < len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - done));
      pread_all(fd, buf.data(), n, data + done, path.c_str());
      crc = crc32c(crc, buf.data(), n);
      done += n;
    }
    if (crc != r.crc) break;
    Entry e{r.type, r.arg, r.blocks, data, data + len};
    if (r.type == wl::kWrite) {
      log.writes.push_back(e);
    } else {
      if (r.arg > log.writes.size()) break;  // covers writes that were never logged
      log.writes_before_flush.push_back(log.writes.size());
      log.flushes.push_back(e);
    }
    pos = data + len;
    ++seq;
  }
  log.valid_bytes = pos;
  log.torn_tail = pos != log.file_bytes;
  return log;
}

// Copies base to out, keeping holes (SEEK_DATA/SEEK_HOLE), so sparse images stay sparse.
void copy_sparse(const std::string& base, const std::string& out, uint64_t expect_bytes) {
  int in = ::open(base.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) die(base + ": " + strerror(errno));
  struct stat st {};
  if (fstat(in, &st) != 0) die(base + ": " + strerror(errno));
  auto size = static_cast<uint64_t>(st.st_size);
  if (size / kBlockSize != expect_bytes / kBlockSize)
    die(base + ": " + std::to_string(size / kBlockSize) + " blocks, but the log was made on " +
        std::to_string(expect_bytes / kBlockSize));
  int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (o < 0) die(out + ": " + strerror(errno));
  if (ftruncate(o, static_cast<off_t>(size)) != 0) die(out + ": " + strerror(errno));
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t d = lseek(in, pos, SEEK_DATA);
    if (d < 0) break;  // ENXIO: only a hole is left
    off_t hole = lseek(in, d, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    off_t src = d, dst = d;
    while (src < hole) {
      ssize_t n = copy_file_range(in, &src, o, &dst, static_cast<size_t>(hole - src), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die(out + ": copy failed: " + (n < 0 ? strerror(errno) : "short"));
    }
    pos = hole;
  }
  ::close(in);
  if (::close(o) != 0) die(out + ": " + strerror(errno));
}

// Applies write `e` to out; with torn_sector > 0 only its first torn_sector sectors.
void apply(int log_fd, int out_fd, const Entry& e, uint64_t torn_sector,
           std::vector<std::byte>& buf) {
  uint64_t len = e.blocks * kBlockSize;
  if (torn_sector > 0) len = torn_sector * kSectorSize;
  for (uint64_t done = 0; done < len;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - done));
    pread_all(log_fd, buf.data(), n, e.data + done, "log");
    pwrite_all(out_fd, buf.data(), n, e.arg * kBlockSize + done, "image");
    done += n;
  }
}

void usage() {
  printf(
      "usage: vdofs-replay-log --list LOG\n"
      "       vdofs-replay-log --base IMAGE --out IMAGE (--flush K | --between K) [--seed S] LOG\n"
      "\n"
      "Rebuilds a vdofs backing store from a write log (vdofs -o write_log=LOG), starting from\n"
      "IMAGE as it was when the daemon that wrote the log started.\n"
      "\n"
      "  --list        print the log's records, flushes and each flush's log offset (JSON)\n"
      "  --flush K     the state right after flush K (0 = before the first): every write the\n"
      "                first K flushes made durable, nothing else\n"
      "  --between K   a crash after flush K and before flush K+1 completed: the durable state\n"
      "                of flush K, a random cut among the later writes, a random subset of the\n"
      "                writes before the cut kept (--keep), one of them torn after a random\n"
      "                512-byte sector\n"
      "  --seed S      seed of --between (default: from the clock; always printed)\n"
      "  --keep P      probability that an unflushed write before the cut survives (0.5)\n"
      "\n"
      "Prints one JSON object; \"durable_offset\" is the log offset up to which every flush is\n"
      "honoured (a file fsynced while the log was shorter must be intact).\n");
}

}  // namespace

int main(int argc, char** argv) {
  enum { kList = 1000, kBase, kOut, kFlush, kBetween, kSeed, kKeep };
  static const option longopts[] = {{"list", no_argument, nullptr, kList},
                                    {"base", required_argument, nullptr, kBase},
                                    {"out", required_argument, nullptr, kOut},
                                    {"flush", required_argument, nullptr, kFlush},
                                    {"between", required_argument, nullptr, kBetween},
                                    {"seed", required_argument, nullptr, kSeed},
                                    {"keep", required_argument, nullptr, kKeep},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  bool list = false;
  std::string base, out;
  long long flush_point = -1, between = -1;
  uint64_t seed =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  double keep = 0.5;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
    switch (c) {
      case kList:
        list = true;
        break;
      case kBase:
        base = optarg;
        break;
      case kOut:
        out = optarg;
        break;
      case kFlush:
        flush_point = std::stoll(optarg);
        break;
      case kBetween:
        between = std::stoll(optarg);
        break;
      case kSeed:
        seed = std::stoull(optarg);
        break;
      case kKeep:
        keep = std::stod(optarg);
        break;
      case 'h':
        usage();
        return 0;
      default:
        fprintf(stderr, "vdofs-replay-log: bad option (see --help)\n");
        return 2;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "vdofs-replay-log: give exactly one LOG (see --help)\n");
    return 2;
  }
  std::string log_path = argv[optind];
  int log_fd = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (log_fd < 0) die(log_path + ": " + strerror(errno));
  Log log = scan(log_fd, log_path);
  const uint64_t nflush = log.flushes.size();

  if (list) {
    printf("{\"records\": %zu, \"writes\": %zu, \"flushes\": %" PRIu64 ", \"valid_bytes\": %" PRIu64
           ", \"file_bytes\": %" PRIu64 ", \"torn_tail\": %s, \"device_blocks\": %" PRIu64
           ", \"flush_offsets\": [",
           log.writes.size() + log.flushes.size(), log.writes.size(), nflush, log.valid_bytes,
           log.file_bytes, log.torn_tail ? "true" : "false", log.header.device_blocks);
    for (size_t i = 0; i < nflush; ++i) printf("%s%" PRIu64, i ? ", " : "", log.flushes[i].end);
    printf("]}\n");
    return 0;
  }
  if (base.empty() || out.empty() || (flush_point < 0) == (between < 0)) {
    fprintf(stderr, "vdofs-replay-log: need --base, --out and one of --flush/--between\n");
    return 2;
  }
  long long k = flush_point >= 0 ? flush_point : between;
  if (static_cast<uint64_t>(k) > nflush)
    die("the log has only " + std::to_string(nflush) + " flushes");

  // The durable prefix after the first k flushes: flushes may complete out of order, so the
  // prefix is the largest count any of them covered.
  uint64_t durable = 0;
  for (long long i = 0; i < k; ++i) durable = std::max(durable, log.flushes[i].arg);
  uint64_t durable_offset = k == 0 ? wl::kHeaderBytes : log.flushes[k - 1].end;

  copy_sparse(base, out, log.header.device_blocks * kBlockSize);
  int out_fd = ::open(out.c_str(), O_WRONLY | O_CLOEXEC);
  if (out_fd < 0) die(out + ": " + strerror(errno));
  std::vector<std::byte> buf(1 << 20);
  for (uint64_t i = 0; i < durable; ++i) apply(log_fd, out_fd, log.writes[i], 0, buf);

  uint64_t cut = durable, kept = 0, torn = 0, torn_sector = 0;
  bool has_torn = false;
  if (between >= 0) {
    // Writes that may or may not have reached the disk: logged at or after the prefix and before
    // flush k+1 completed.
    uint64_t limit =
        static_cast<uint64_t>(k) < nflush ? log.writes_before_flush[k] : log.writes.size();
    std::mt19937_64 rng(seed);
    if (limit > durable) {
      cut = durable + 1 + rng() % (limit - durable);
      torn = durable + rng() % (cut - durable);
      has_torn = true;
      torn_sector = 1 + rng() % (log.writes[torn].blocks * kSectorsPerBlock - 1);
      std::uniform_real_distribution<double> coin(0.0, 1.0);
      for (uint64_t i = durable; i < cut; ++i) {
        bool is_torn = i == torn;
        bool take = coin(rng) < keep;
        if (!is_torn && !take) continue;
        apply(log_fd, out_fd, log.writes[i], is_torn ? torn_sector : 0, buf);
        if (!is_torn) ++kept;
      }
    }
  }
  if (fsync(out_fd) != 0 || ::close(out_fd) != 0) die(out + ": " + strerror(errno));
  printf("{\"point\": \"%s\", \"flush\": %lld, \"flushes\": %" PRIu64
         ", \"durable_writes\": %" PRIu64 ", \"durable_offset\": %" PRIu64 ", \"cut\": %" PRIu64
         ", \"unflushed_kept\": %" PRIu64 ", \"unflushed_dropped\": %" PRIu64,
         between >= 0 ? "between" : "flush", k, nflush, durable, durable_offset, cut, kept,
         cut - durable - kept - (has_torn ? 1 : 0));
  if (has_torn)
    printf(", \"torn_write\": %" PRIu64 ", \"torn_block\": %" PRIu64
           ", \"torn_after_sector\": %" PRIu64,
           torn, log.writes[torn].arg, torn_sector);
  if (between >= 0) printf(", \"seed\": %" PRIu64, seed);
  printf("}\n");
  return 0;
}
