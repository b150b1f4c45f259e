#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/base/errc.h"
#include "engine/base/log.h"
#include "fuse/filesystem.h"

namespace vdofs::fusefs {

namespace {

constexpr double kAttrTimeout = 1.0;
constexpr const char* kStatsXattr = "user.vdofs.stats";

Filesystem* fs_of(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

// Logs a failed request at the FUSE edge (rate-limited to the first few of each kind).
void log_failure(const char* op, uint64_t off, uint64_t len, std::error_code ec) {
  static std::atomic<uint32_t> logged{0};
  if (logged.fetch_add(1, std::memory_order_relaxed) < 50)
    log::warning("%s at offset %llu length %llu failed: %s (errno %d)", op,
                 static_cast<unsigned long long>(off), static_cast<unsigned long long>(len),
                 ec.message().c_str(), to_errno(ec));
}

// Replies from engine threads. Each deletes itself after replying.
class FuseReply : public engine::UserRequest {
 public:
  FuseReply(Filesystem* fs, fuse_req_t req, const char* op = "", uint64_t off = 0, uint64_t len = 0)
      : fs_(fs), req_(req), op_(op), off_(off), len_(len) {
    fs_->request_started();
  }
  ~FuseReply() override { fs_->request_finished(); }

 protected:
  void note(std::error_code ec) {
    if (ec) log_failure(op_, off_, len_, ec);
  }
  Filesystem* fs_;
  fuse_req_t req_;
  const char* op_;
  uint64_t off_, len_;
};

class WriteReply final : public FuseReply {
 public:
  WriteReply(Filesystem* fs, fuse_req_t req, uint64_t off, size_t size)
      : FuseReply(fs, req, "write", off, size), size_(size) {}
  void complete(std::error_code ec) override {
    note(ec);
    if (ec)
      fuse_reply_err(req_, to_errno(ec));
    else
      fuse_reply_write(req_, size_);
    delete this;
  }

 private:
  size_t size_;
};

class ReadReply final : public FuseReply {
 public:
  // Page-aligned, so whole-block reads can go to the backing store with O_DIRECT.
  ReadReply(Filesystem* fs, fuse_req_t req, uint64_t off, size_t size)
      : FuseReply(fs, req, "read", off, size),
        buf_(static_cast<std::byte*>(
            std::aligned_alloc(kBlockSize, (size + kBlockSize - 1) / kBlockSize * kBlockSize))),
        size_(size) {}
  std::byte* buffer() { return buf_.get(); }
  void complete(std::error_code ec) override {
    note(ec);
    if (ec)
      fuse_reply_err(req_, to_errno(ec));
    else
      fuse_reply_buf(req_, reinterpret_cast<const char*>(buf_.get()), size_);
    delete this;
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> buf_;
  size_t size_;
};

class StatusReply final : public FuseReply {
 public:
  using FuseReply::FuseReply;
  void complete(std::error_code ec) override {
    note(ec);
    fuse_reply_err(req_, ec ? to_errno(ec) : 0);
    delete this;
  }
};

void op_init(void* userdata, struct fuse_conn_info* conn) {
  (void)userdata;
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // every write reaches the engine in order
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Filesystem* fs = fs_of(req);
  if (parent != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  auto& vols = fs->volumes();
  for (size_t i = 0; i < vols.size(); ++i) {
    if (vols[i].name != name) continue;
    fuse_entry_param e{};
    e.ino = fs->ino_of(i);
    e.attr_timeout = kAttrTimeout;
    e.entry_timeout = 3600.0;
    fs->fill_attr(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
    return;
  }
  fuse_reply_err(req, ENOENT);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  if (ino != FUSE_ROOT_ID && !fs->volume_of(ino)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st {};
  fs->fill_attr(ino, &st);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ENOENT);
    return;
  }
  // The size is the volume's logical size: only a no-op "truncate to the same size" is allowed.
  if ((to_set & FUSE_SET_ATTR_SIZE) &&
      static_cast<uint64_t>(attr->st_size) != mv->volume->logical_bytes()) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  struct stat st {};
  fs->fill_attr(ino, &st);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  MountedVolume* mv = fs_of(req)->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY && mv->volume->is_read_only()) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (fi->flags & O_TRUNC) {
    fuse_reply_err(req, EPERM);
    return;
  }
  fi->keep_cache = 0;
  fi->fh = static_cast<uint64_t>(fi->flags);
  Filesystem* fs = fs_of(req);
  fs->open_files().opened(ino - 2);
  if (fuse_reply_open(req, fi) != 0) fs->open_files().released(ino - 2);  // interrupted open
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  uint64_t end = mv->volume->logical_bytes();
  if (off < 0 || static_cast<uint64_t>(off) >= end || size == 0) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  size = static_cast<size_t>(std::min<uint64_t>(size, end - static_cast<uint64_t>(off)));
  auto* r = new ReadReply(fs, req, static_cast<uint64_t>(off), size);
  mv->volume->submit_read(r, static_cast<uint64_t>(off), r->buffer(), size);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              struct fuse_file_info* fi) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  uint64_t end = mv->volume->logical_bytes();
  if (off < 0 || static_cast<uint64_t>(off) >= end) {
    fuse_reply_err(req, size == 0 ? 0 : EFBIG);
    return;
  }
  size = static_cast<size_t>(std::min<uint64_t>(size, end - static_cast<uint64_t>(off)));
  // O_SYNC/O_DSYNC opens are acknowledged only once their journal entries are committed.
  int flags = fi->flags ? fi->flags : static_cast<int>(fi->fh);
  bool sync = (flags & (O_SYNC | O_DSYNC)) != 0;
  auto* r = new WriteReply(fs, req, static_cast<uint64_t>(off), size);
  mv->volume->submit_write(r, static_cast<uint64_t>(off), reinterpret_cast<const std::byte*>(buf),
                           size, sync);
}

void op_flush(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) {
  fuse_reply_err(req, 0);  // close(2): durability is fsync's job
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  if (fs->volume_of(ino)) fs->open_files().released(ino - 2);
  fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? 0 : ENOENT);
    return;
  }
  mv->volume->submit_flush(new StatusReply(fs, req, "fsync"));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (off < 0 || len <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const bool punch = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
  const bool zero = (mode & FALLOC_FL_ZERO_RANGE) != 0;
  if (!punch && !zero) {
    // Thin provisioning: space cannot be reserved ahead of writes.
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  if ((mode & ~(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) != 0 ||
      (punch && !(mode & FALLOC_FL_KEEP_SIZE))) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  uint64_t end = mv->volume->logical_bytes();
  uint64_t o = static_cast<uint64_t>(off);
  uint64_t l = static_cast<uint64_t>(len);
  if (o >= end) {
    fuse_reply_err(req, (mode & FALLOC_FL_KEEP_SIZE) ? 0 : EFBIG);
    return;
  }
  if (l > end - o) {
    if (!(mode & FALLOC_FL_KEEP_SIZE)) {
      fuse_reply_err(req, EFBIG);
      return;
    }
    l = end - o;
  }
  mv->volume->submit_discard(
      new StatusReply(fs, req, (mode & FALLOC_FL_PUNCH_HOLE) ? "punch-hole" : "zero-range", o, l),
      o, l);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  Filesystem* fs = fs_of(req);
  struct statvfs sv {};
  sv.f_bsize = kBlockSize;
  sv.f_frsize = kBlockSize;
  for (auto& mv : fs->volumes()) {
    sv.f_blocks += mv.volume->layout().data_capacity();
    sv.f_bfree += mv.volume->free_data_blocks();
  }
  sv.f_bavail = sv.f_bfree;
  sv.f_files = fs->volumes().size() + 1;
  sv.f_ffree = 0;
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  Filesystem* fs = fs_of(req);
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", FUSE_ROOT_ID},
                                                             {"..", FUSE_ROOT_ID}};
  for (size_t i = 0; i < fs->volumes().size(); ++i)
    entries.push_back({fs->volumes()[i].name, fs->ino_of(i)});
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].second;
    st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].first.c_str(), &st,
                                 static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, struct fuse_file_info*) { fuse_reply_err(req, 0); }

// Replies to a getxattr/listxattr of `value`: its size when asked for it, ERANGE when it does not
// fit, the bytes otherwise.
void reply_xattr_value(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0)
    fuse_reply_xattr(req, value.size());
  else if (size < value.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, value.data(), value.size());
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Filesystem* fs = fs_of(req);
  MountedVolume* mv = fs->volume_of(ino);
  if (!mv || strcmp(name, kStatsXattr) != 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  reply_xattr_value(req, mv->volume->stats().to_json(), size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Filesystem* fs = fs_of(req);
  reply_xattr_value(req, fs->volume_of(ino) ? std::string(kStatsXattr) + '\0' : std::string(),
                    size);
}

void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, ENOTSUP);
}

// The namespace is fixed: one file per volume.
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
  fuse_reply_err(req, EPERM);
}
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EPERM); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_rmdir(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
  fuse_reply_err(req, EPERM);
}
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
  fuse_reply_err(req, EPERM);
}
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, struct fuse_file_info*) {
  fuse_reply_err(req, EPERM);
}

}  // namespace

Filesystem::Filesystem(std::vector<MountedVolume> volumes)
    : volumes_(std::move(volumes)), open_files_(volumes_.size()) {
  clock_gettime(CLOCK_REALTIME, &mounted_at_);
}

MountedVolume* Filesystem::volume_of(fuse_ino_t ino) {
  if (ino < 2 || ino - 2 >= volumes_.size()) return nullptr;
  return &volumes_[ino - 2];
}

void Filesystem::fill_attr(fuse_ino_t ino, struct stat* st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_atim = st->st_mtim = st->st_ctim = mounted_at_;
  st->st_blksize = kBlockSize;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return;
  }
  MountedVolume* mv = volume_of(ino);
  // Owner only: the volume file holds the raw blocks of whatever filesystem sits on it.
  st->st_mode = S_IFREG | (mv->volume->is_read_only() ? 0400 : 0600);
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(mv->volume->logical_bytes());
  st->st_blocks = static_cast<blkcnt_t>(mv->volume->logical_blocks_used() * (kBlockSize / 512));
}

void Filesystem::wait_for_requests() {
  for (uint64_t v = outstanding_.load(); v != 0; v = outstanding_.load()) outstanding_.wait(v);
}

bool Filesystem::close_all() {
  wait_for_requests();
  bool all = true;
  for (auto& mv : volumes_) {
    auto r = mv.volume->close();
    if (!r) {
      log::error("%s: shutdown: %s", mv.backing.c_str(), r.error().message().c_str());
      all = false;
    } else {
      log::info("%s: clean shutdown of volume %s", mv.backing.c_str(), mv.name.c_str());
    }
  }
  return all;
}

const fuse_lowlevel_ops& Filesystem::operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = op_init;
    o.lookup = op_lookup;
    o.getattr = op_getattr;
    o.setattr = op_setattr;
    o.open = op_open;
    o.read = op_read;
    o.write = op_write;
    o.flush = op_flush;
    o.release = op_release;
    o.fsync = op_fsync;
    o.fallocate = op_fallocate;
    o.statfs = op_statfs;
    o.opendir = op_opendir;
    o.readdir = op_readdir;
    o.releasedir = op_releasedir;
    o.getxattr = op_getxattr;
    o.listxattr = op_listxattr;
    o.setxattr = op_setxattr;
    o.mknod = op_mknod;
    o.mkdir = op_mkdir;
    o.unlink = op_unlink;
    o.rmdir = op_rmdir;
    o.symlink = op_symlink;
    o.rename = op_rename;
    o.link = op_link;
    o.create = op_create;
    return o;
  }();
  return ops;
}

}  // namespace vdofs::fusefs
