// vdofs-stats: statistics of mounted vdofs volumes, in the manner of vdostats.
//   vdofs-stats [--json] [--verbose] [--human-readable] PATH...
// PATH is a mountpoint (all its volumes), a volume file inside a mount, or an unmounted backing
// store (read offline). Mounted volumes are asked through the extended attribute
// "user.vdofs.stats", which returns one JSON object.
#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/base/size_parse.h"
#include "engine/io/file_device.h"
#include "engine/volume.h"

using namespace vdofs;

namespace {

struct VolumeReport {
  std::string device;  // what the Device column shows
  std::string name;
  std::string json;                                         // the raw object
  std::vector<std::pair<std::string, std::string>> fields;  // in order

  std::string get(const std::string& k) const {
    for (auto& [key, v] : fields)
      if (key == k) return v;
    return "";
  }
  uint64_t num(const std::string& k) const {
    std::string v = get(k);
    return v.empty() || v == "null" ? 0 : strtoull(v.c_str(), nullptr, 10);
  }
};

// Parses the flat JSON object the daemon produces: {"key": number|"string"|null, ...}.
bool parse_flat_json(const std::string& s, VolumeReport* r) {
  size_t i = s.find('{');
  if (i == std::string::npos) return false;
  ++i;
  while (i < s.size()) {
    while (i < s.size() && (isspace(static_cast<unsigned char>(s[i])) || s[i] == ',')) ++i;
    if (i >= s.size() || s[i] == '}') return true;
    if (s[i] != '"') return false;
    size_t k = s.find('"', i + 1);
    if (k == std::string::npos) return false;
    std::string key = s.substr(i + 1, k - i - 1);
    i = s.find(':', k);
    if (i == std::string::npos) return false;
    ++i;
    while (i < s.size() && isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string val;
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        val += s[i++];
      }
      ++i;
    } else {
      while (i < s.size() && s[i] != ',' && s[i] != '}') val += s[i++];
      while (!val.empty() && isspace(static_cast<unsigned char>(val.back()))) val.pop_back();
    }
    r->fields.push_back({key, val});
  }
  return false;
}

bool query_mounted(const std::string& path, VolumeReport* r, std::string* err) {
  ssize_t n = getxattr(path.c_str(), "user.vdofs.stats", nullptr, 0);
  if (n < 0) {
    *err = errno == ENODATA || errno == ENOTSUP ? "not a vdofs volume file" : strerror(errno);
    return false;
  }
  std::string buf(static_cast<size_t>(n) + 1, '\0');
  n = getxattr(path.c_str(), "user.vdofs.stats", buf.data(), buf.size());
  if (n < 0) {
    *err = strerror(errno);
    return false;
  }
  buf.resize(static_cast<size_t>(n));
  r->device = path;
  r->json = buf;
  if (!parse_flat_json(buf, r)) {
    *err = "unreadable statistics";
    return false;
  }
  return true;
}

bool query_offline(const std::string& path, VolumeReport* r, std::string* err) {
  io::FileDeviceOptions fo;
  fo.read_only = true;
  auto dev = io::FileDevice::open(path, fo);
  if (!dev) {
    *err = dev.error() == std::errc::device_or_resource_busy
               ? "in use by a running vdofs; give its mountpoint or volume file instead"
               : dev.error().message();
    return false;
  }
  auto header = engine::read_volume_header(**dev);
  if (!header) {
    *err = header.error() == make_error_code(errc::bad_magic) ? "not a vdofs volume"
                                                              : header.error().message();
    return false;
  }
  engine::VolumeOptions vo;
  vo.read_only = true;
  vo.dedupe = false;
  vo.defer_start = true;
  vo.threads.single_thread = true;
  vo.threads.cpu = 1;
  vo.max_in_flight = 16;
  auto vol = engine::Volume::open(**dev, vo);
  if (!vol) {
    *err = "cannot read the volume: " + vol.error().message();
    return false;
  }
  engine::VolumeStats st = (*vol)->stats();
  st.operating_mode = std::string(format::state_name(header->super.state)) + " (not mounted)";
  r->device = path;
  r->json = st.to_json();
  return parse_flat_json(r->json, r);
}

std::string human(uint64_t kib) {
  static const char* units[] = {"K", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(kib);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, v < 10 ? "%.1f%s" : "%.0f%s", v, units[u]);
  return buf;
}

void usage(FILE* f) {
  fprintf(
      f,
      "usage: vdofs-stats [--json] [--verbose] [--human-readable] PATH...\n"
      "\n"
      "Shows the space use and savings of vdofs volumes, like vdostats. PATH is a vdofs\n"
      "mountpoint (all its volumes), a volume file inside one, or an unmounted backing store.\n"
      "\n"
      "  --json              one JSON object mapping each volume name to all its statistics\n"
      "  -v, --verbose       every statistic, one per line\n"
      "  -h, --human-readable  sizes in K/M/G/T instead of 1K-blocks\n"
      "  --help              this help\n"
      "\n"
      "Columns: 1K-blocks = the whole backing store; Used = data blocks + metadata (block map,\n"
      "journal, reference counts, dedupe index); Use%% = Used/1K-blocks; Space-Saving%% =\n"
      "(logical blocks used - data blocks used) / logical blocks used.\n");
}

}  // namespace

int main(int argc, char** argv) {
  enum { kJson = 1000, kHelp };
  static const option longopts[] = {{"json", no_argument, nullptr, kJson},
                                    {"verbose", no_argument, nullptr, 'v'},
                                    {"human-readable", no_argument, nullptr, 'h'},
                                    {"help", no_argument, nullptr, kHelp},
                                    {nullptr, 0, nullptr, 0}};
  bool json = false, verbose = false, hr = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "vh", longopts, nullptr)) != -1) {
    switch (c) {
      case kJson:
        json = true;
        break;
      case 'v':
        verbose = true;
        break;
      case 'h':
        hr = true;
        break;
      case kHelp:
        usage(stdout);
        return 0;
      default:
        fprintf(stderr, "vdofs-stats: unknown option '%s'\n", argv[optind - 1]);
        usage(stderr);
        return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "vdofs-stats: missing PATH (a vdofs mountpoint or volume file)\n");
    return 2;
  }
  std::vector<VolumeReport> reports;
  int rc = 0;
  for (int i = optind; i < argc; ++i) {
    std::string path = argv[i];
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      fprintf(stderr, "vdofs-stats: %s: %s\n", path.c_str(), strerror(errno));
      rc = 1;
      continue;
    }
    std::string err;
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(path.c_str());
      if (!d) {
        fprintf(stderr, "vdofs-stats: %s: %s\n", path.c_str(), strerror(errno));
        rc = 1;
        continue;
      }
      std::vector<std::string> names;
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') names.push_back(e->d_name);
      closedir(d);
      std::sort(names.begin(), names.end());
      size_t found = 0;
      for (auto& n : names) {
        VolumeReport r;
        std::string p = path + (path.back() == '/' ? "" : "/") + n;
        if (query_mounted(p, &r, &err)) {
          r.name = n;
          reports.push_back(r);
          ++found;
        }
      }
      if (!found) {
        fprintf(stderr, "vdofs-stats: %s: not a vdofs mountpoint (no volumes found)\n",
                path.c_str());
        rc = 1;
      }
      continue;
    }
    VolumeReport r;
    if (query_mounted(path, &r, &err) || query_offline(path, &r, &err)) {
      r.name = r.get("name").empty() ? path.substr(path.find_last_of('/') + 1) : r.get("name");
      reports.push_back(r);
    } else {
      fprintf(stderr, "vdofs-stats: %s: %s\n", path.c_str(), err.c_str());
      rc = 1;
    }
  }
  if (reports.empty()) return rc ? rc : 1;
  if (json) {
    printf("{");
    for (size_t i = 0; i < reports.size(); ++i)
      printf("%s\"%s\": %s", i ? ", " : "", reports[i].name.c_str(), reports[i].json.c_str());
    printf("}\n");
    return rc;
  }
  if (verbose) {
    for (auto& r : reports) {
      printf("%s :\n", r.device.c_str());
      for (auto& [k, v] : r.fields) printf("  %-40s : %s\n", k.c_str(), v.c_str());
    }
    return rc;
  }
  size_t width = 6;
  for (auto& r : reports) width = std::max(width, r.device.size());
  printf("%-*s %10s %10s %10s %4s %13s\n", static_cast<int>(width), "Device",
         hr ? "Size" : "1K-blocks", "Used", "Available", "Use%", "Space-Saving%");
  for (auto& r : reports) {
    uint64_t total = r.num("physical_blocks") * 4;
    uint64_t used = (r.num("data_blocks_used") + r.num("overhead_blocks_used")) * 4;
    uint64_t avail = total > used ? total - used : 0;
    unsigned pct = total ? static_cast<unsigned>((used * 100 + total - 1) / total) : 0;
    std::string saving = r.get("saving_percent");
    saving = saving.empty() || saving == "null" ? "N/A" : saving + "%";
    if (hr) {
      printf("%-*s %10s %10s %10s %3u%% %13s\n", static_cast<int>(width), r.device.c_str(),
             human(total).c_str(), human(used).c_str(), human(avail).c_str(), pct, saving.c_str());
    } else {
      printf("%-*s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %3u%% %13s\n", static_cast<int>(width),
             r.device.c_str(), total, used, avail, pct, saving.c_str());
    }
  }
  return rc;
}
