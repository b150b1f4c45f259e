#include "engine/base/sha256.h"

#include <openssl/evp.h>

#include "engine/base/assert.h"

namespace vdofs {
namespace {

// One fetched implementation for the whole process (fetching per use is slow; freeing per-thread
// references at thread exit races inside libcrypto's reference locks). Never freed.
EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct Ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_MD* md = sha256_md();
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

BlockName sha256(std::span<const std::byte> data) {
  thread_local Ctx c;
  BlockName name;
  unsigned int len = 0;
  VDOFS_CHECK(c.ctx && c.md, "OpenSSL SHA-256 unavailable");
  VDOFS_CHECK(EVP_DigestInit_ex2(c.ctx, c.md, nullptr) == 1);
  VDOFS_CHECK(EVP_DigestUpdate(c.ctx, data.data(), data.size()) == 1);
  VDOFS_CHECK(EVP_DigestFinal_ex(c.ctx, name.bytes.data(), &len) == 1 && len == 32);
  return name;
}

}  // namespace vdofs
