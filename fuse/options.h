// Command line of the vdofs daemon:  vdofs [options] BACKING... MOUNTPOINT
// vdofs's own -o options are taken out here; the rest go to libfuse.
#pragma once

#include <string>
#include <vector>

#include "engine/volume.h"

namespace vdofs::fusefs {

struct DaemonOptions {
  std::vector<std::string> backings;
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool show_help = false;
  bool show_version = false;
  bool read_only = false;
  bool direct_io = true;  // data blocks bypass the backing store's page cache
  std::string logfile;
  std::string write_log;  // record every write and flush of the backing store here (testing)
  engine::VolumeOptions volume;
  std::vector<std::string> fuse_args;  // argv for libfuse (argv[0] first)
};

// Parses argv. On error returns false with a one-line message in *error.
bool parse_daemon_options(int argc, char** argv, DaemonOptions* out, std::string* error);
void print_daemon_help(const char* argv0);

}  // namespace vdofs::fusefs
