#!/usr/bin/env python3
"""Soak (like ZFS's ztest/zloop): several threads write, overwrite, duplicate, discard (punch
hole) and fsync 4 KiB blocks of a real daemon's volume file; the daemon is SIGKILLed at a random
moment; after the remount (and the end of its background recovery) every block must read back
as its content at its thread's last returned fsync, or as a content written after it; the
daemon is stopped cleanly and vdofs-check must find the volume consistent. Repeats for
VDOFS_SOAK_SECONDS (default 120) or --minutes N. The seed (VDOFS_TEST_SEED, default 1) and each
cycle's seed are printed; the same seed replays the same operations (the kill moments and
thread interleavings differ)."""
import ctypes
import errno
import hashlib
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (BUILD, Daemon, StepFailed, check, log, mkfs, run, run_tests,  # noqa: E402
                     tmpdir)

CHECK = os.path.join(BUILD, "mkfs", "vdofs-check")
BS = 4096
THREADS = 4
BLOCKS_PER_THREAD = 2048  # 8 MiB each
POOL = 64  # contents shared by every thread: duplicates


def content(cid):
    if cid == 0:
        return bytes(BS)
    h = hashlib.sha256(cid.to_bytes(8, "little")).digest()
    return (h * (BS // len(h)))[:BS]


class Worker:
    """One thread's private blocks and its model of them."""

    def __init__(self, idx):
        self.idx = idx
        self.base = idx * BLOCKS_PER_THREAD
        self.durable = {}  # block -> content id as of the last returned fsync (absent: zeros)
        self.pending = {}  # block -> ids written since (the one in flight at the kill included)
        self.latest = {}  # block -> the last id written since the last fsync
        self.ops = 0
        self.fsyncs = 0

    def allowed(self, b):
        return {self.durable.get(b, 0)} | self.pending.get(b, set())

    def note(self, b, cid):
        self.pending.setdefault(b, set()).add(cid)
        self.latest[b] = cid

    def run(self, path, stop, ids, rng):
        fd = os.open(path, os.O_RDWR)
        try:
            while not stop.is_set():
                r = rng.random()
                b = rng.randrange(BLOCKS_PER_THREAD)
                if r < 0.08:
                    latest = dict(self.latest)
                    os.fsync(fd)
                    self.durable.update(latest)
                    self.pending.clear()
                    self.latest.clear()
                    self.fsyncs += 1
                elif r < 0.16:
                    n = min(rng.randint(1, 16), BLOCKS_PER_THREAD - b)
                    for i in range(n):
                        self.note(b + i, 0)
                    punch(fd, (self.base + b) * BS, n * BS)
                else:
                    # Most writes reuse a shared content (duplicates across threads and blocks).
                    cid = rng.randrange(1, POOL) if r < 0.6 else ids.next()
                    self.note(b, cid)
                    os.pwrite(fd, content(cid), (self.base + b) * BS)
                self.ops += 1
        except OSError as e:  # the daemon was killed under us
            if e.errno not in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO, errno.ENODEV):
                raise
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def verify(self, fd, where):
        """Checks every block against the model; what survived becomes the durable state (the
        volume is shut down cleanly after the check)."""
        for b in range(BLOCKS_PER_THREAD):
            data = os.pread(fd, BS, (self.base + b) * BS)
            allowed = self.allowed(b)
            got = next((c for c in allowed if content(c) == data), None)
            check(got is not None, f"{where}: thread {self.idx} block {b} (LBN {self.base + b}) "
                                   f"reads none of the contents {sorted(allowed)}")
            if got:
                self.durable[b] = got
            else:
                self.durable.pop(b, None)
        self.pending.clear()
        self.latest.clear()
        return BLOCKS_PER_THREAD


class Ids:
    def __init__(self):
        self.n = POOL
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.n += 1
            return self.n


_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def punch(fd, off, length):
    if _libc.fallocate(fd, 0x01 | 0x02, off, length) != 0:  # FALLOC_FL_KEEP_SIZE | PUNCH_HOLE
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def wait_ready(d, name, timeout=300):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            if d.stats(name)["operating_mode"] != "recovering":
                return
        except StepFailed as e:  # right after the mount vdofs-stats may not see the volume yet
            last = e
        time.sleep(0.2)
    raise last or StepFailed(f"still recovering after {timeout}s\n{d.log()}")


def test_soak():
    seconds = float(os.environ.get("VDOFS_SOAK_SECONDS", "120"))
    seed = int(os.environ.get("VDOFS_TEST_SEED", "1"))
    master = random.Random(seed)
    log(f"seed {seed}, {seconds:.0f} s")
    w = tmpdir()
    image = os.path.join(w, "s.img")
    mnt = os.path.join(w, "mnt")
    mkfs(image, "--logical-size", "1G", "--physical-size", "512M", "--journal-size", "1M")
    workers = [Worker(i) for i in range(THREADS)]
    ids = Ids()
    end = time.monotonic() + seconds
    cycles = ops = fsyncs = verified = 0
    while time.monotonic() < end or cycles == 0:
        cseed = master.randrange(1 << 32)
        rng = random.Random(cseed)
        where = f"cycle {cycles + 1} (seed {seed}, cycle seed {cseed})"
        opts = [f"logical_zones={rng.randint(1, 3)}", f"physical_zones={rng.randint(1, 2)}",
                f"hash_zones={rng.randint(1, 2)}"]
        d = Daemon([image], mnt, options=opts, log_path=os.path.join(w, f"vdofs{cycles}.log")).start()
        wait_ready(d, "s")
        stop = threading.Event()
        errors = []

        def body(wk, r):
            try:
                wk.run(d.volume("s"), stop, ids, r)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        ts = [threading.Thread(target=body, args=(wk, random.Random(cseed * 31 + wk.idx)), daemon=True)
              for wk in workers]
        for t in ts:
            t.start()
        time.sleep(rng.uniform(0.5, 4.0))
        d.crash()  # SIGKILL at a random moment
        stop.set()
        for t in ts:
            t.join(timeout=120)
            check(not t.is_alive(), f"{where}: a worker did not stop after the daemon was killed")
        check(not errors, f"{where}: a worker failed: {errors}")
        for wk in workers:
            ops += wk.ops
            fsyncs += wk.fsyncs
            wk.ops = wk.fsyncs = 0
        d = Daemon([image], mnt, log_path=os.path.join(w, f"vdofs{cycles}v.log")).start()
        wait_ready(d, "s")
        fd = os.open(d.volume("s"), os.O_RDONLY)
        try:
            for wk in workers:
                verified += wk.verify(fd, where)
        finally:
            os.close(fd)
        d.stop()
        p = run([CHECK, image], timeout=300)
        check("consistent" in p.stdout, f"{where}: vdofs-check: {p.stdout}")
        cycles += 1
        log(f"{where}: {opts}: ok")
    log(f"soak iterations (kill/recover cycles): {cycles}, operations: {ops}, fsyncs: {fsyncs}, "
        f"blocks verified: {verified}, lost fsynced blocks: 0")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--minutes"]:
        os.environ["VDOFS_SOAK_SECONDS"] = str(float(args[1]) * 60)
    secs = float(os.environ.get("VDOFS_SOAK_SECONDS", "120"))
    run_tests([("soak: threads, duplicates, discards, fsyncs, SIGKILL, remount, model check", test_soak)],
              per_test_timeout=int(secs + 900))
