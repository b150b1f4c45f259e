# Shared by scripts/run and scripts/test. Source it; do not run it.
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Debian packages vdofs needs to build, run and test.
VDOFS_PACKAGES=(
  meson ninja-build g++ pkg-config
  libfuse3-dev fuse3 libtbb-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 fio e2fsprogs xfsprogs util-linux
  clang libfuzzer-14-dev clang-format
)

say() { printf '%s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    say "$(basename "$0"): run as root (it installs packages, mounts FUSE and attaches loop devices)"
    exit 1
  fi
}

# Installs whatever is missing, quietly; says what it installs.
install_missing() {
  local missing=() p
  for p in "${VDOFS_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/vdofs-apt.log 2>&1; then
    apt-get update -q >>/tmp/vdofs-apt.log 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/vdofs-apt.log 2>&1 || {
      say "apt-get failed; see /tmp/vdofs-apt.log"
      tail -n 20 /tmp/vdofs-apt.log >&2
      exit 1
    }
  fi
}

# build_dir DIR [meson setup args...]: configures DIR once, then builds it.
build_dir() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$ROOT" "$@" >"$dir.setup.log" 2>&1 || {
      cat "$dir.setup.log" >&2
      return 1
    }
  fi
  ninja -C "$dir" -j "$(nproc)" >"$dir.ninja.log" 2>&1 || {
    tail -n 60 "$dir.ninja.log" >&2
    return 1
  }
}
