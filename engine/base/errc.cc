#include "engine/base/errc.h"

#include <cerrno>

namespace vdofs {
namespace {

class VdofsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vdofs"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "success";
      case errc::no_space:
        return "no space left on the volume";
      case errc::read_only:
        return "volume is in read-only mode";
      case errc::checksum_mismatch:
        return "metadata checksum mismatch";
      case errc::bad_magic:
        return "not a vdofs volume (no vdofs geometry block)";
      case errc::bad_version:
        return "unsupported vdofs format version";
      case errc::bad_nonce:
        return "metadata belongs to a different volume (nonce mismatch)";
      case errc::corrupt_metadata:
        return "corrupt metadata";
      case errc::corrupt_journal:
        return "corrupt recovery journal";
      case errc::out_of_range:
        return "block address out of range";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::component_busy:
        return "component busy";
      case errc::shutting_down:
        return "volume is shutting down";
      case errc::timed_out:
        return "timed out";
      case errc::io_error:
        return "I/O error";
      case errc::too_small:
        return "size too small";
      case errc::exists:
        return "already holds a volume or filesystem signature";
    }
    return "unknown vdofs error";
  }
};

}  // namespace

const std::error_category& vdofs_category() noexcept {
  static const VdofsCategory category;
  return category;
}

int to_errno(std::error_code ec) noexcept {
  if (!ec) return 0;
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return ec.value();
  }
  if (ec.category() == vdofs_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::ok:
        return 0;
      case errc::no_space:
        return ENOSPC;
      case errc::read_only:
        return EROFS;
      case errc::out_of_range:
        return EINVAL;
      case errc::invalid_argument:
        return EINVAL;
      case errc::component_busy:
        return EBUSY;
      case errc::shutting_down:
        return ESHUTDOWN;
      case errc::timed_out:
        return ETIMEDOUT;
      case errc::too_small:
        return EINVAL;
      case errc::exists:
        return EEXIST;
      case errc::bad_magic:
      case errc::bad_version:
      case errc::bad_nonce:
      case errc::checksum_mismatch:
      case errc::corrupt_metadata:
      case errc::corrupt_journal:
      case errc::io_error:
        return EIO;
    }
  }
  return EIO;
}

std::string describe(std::error_code ec) { return ec.message(); }

std::error_code errno_code(int e) noexcept { return {e, std::system_category()}; }
std::error_code last_errno_code() noexcept { return errno_code(errno); }

}  // namespace vdofs
