#!/usr/bin/env python3
"""Real crashes: the daemon is SIGKILLed at random moments while a writer fsyncs chunk after
chunk; after each kill the volume is mounted again (the journal is replayed) and every chunk
whose fsync had returned must read back exactly. The same with ext4 on a loop device, followed by
a clean fsck. Finally vdofs-check must find the reference counts exact."""
import hashlib
import os
import random
import subprocess
import sys
import threading
import time

from harness import (STATS, Daemon, FsMount, Loop, check, log, mkfs, run, run_tests, sha256_file,
                     tmpdir)

CHUNK = 256 * 1024
CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

WRITER = r"""
import hashlib, os, sys
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CHUNK = 256 * 1024
def chunk(i):
    # Every third chunk repeats an earlier chunk's content: dedupe across crashes.
    seed = (i // 3) if i % 3 == 0 else i
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < CHUNK:
        h = hashlib.sha256(h).digest()
        out += h * 32
    return bytes(out[:CHUNK])
fd = os.open(path, os.O_RDWR)
for i in range(first, first + count):
    os.pwrite(fd, chunk(i), i * CHUNK)
    os.fsync(fd)
    print(i, flush=True)
"""


def chunk(i):
    seed = (i // 3) if i % 3 == 0 else i
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < CHUNK:
        h = hashlib.sha256(h).digest()
        out += h * 32
    return bytes(out[:CHUNK])


def test_sigkill_while_fsyncing():
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mnt = os.path.join(w, "mnt")
    mkfs(backing, "--logical-size", "4G", "--physical-size", "1G", "--journal-size", "1M")
    rng = random.Random(int(os.environ.get("VDOFS_TEST_SEED", "1")))
    log(f"seed {os.environ.get('VDOFS_TEST_SEED', '1')}")
    done = []  # chunks whose fsync returned
    first = 0
    for rnd in range(6):
        d = Daemon([backing], mnt, options=[f"logical_zones={1 + rnd % 3}", f"physical_zones={1 + rnd % 2}"]).start()
        # Everything fsynced in earlier rounds is still there.
        with open(d.volume("v"), "rb") as f:
            for i in done:
                f.seek(i * CHUNK)
                check(f.read(CHUNK) == chunk(i), f"round {rnd}: fsynced chunk {i} is damaged after recovery")
        if rnd:
            st = d.stats("v")
            check(st["completed_recovery_count"] >= rnd, f"recoveries counted: {st['completed_recovery_count']}")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, d.volume("v"), str(first), "4000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        acked = []
        reader = threading.Thread(target=lambda: acked.extend(int(x) for x in writer.stdout), daemon=True)
        reader.start()
        kill_after = rng.uniform(0.3, 2.5)
        time.sleep(kill_after)
        d.crash()  # SIGKILL
        try:
            writer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait(timeout=30)
        reader.join(timeout=30)
        log(f"round {rnd}: killed after {kill_after:.2f}s, {len(acked)} chunks fsynced")
        done += acked
        first = (max(done) + 1) if done else first
    d = Daemon([backing], mnt).start()
    with open(d.volume("v"), "rb") as f:
        for i in done:
            f.seek(i * CHUNK)
            check(f.read(CHUNK) == chunk(i), f"final: fsynced chunk {i} is damaged")
    check(len(done) > 20, f"the writer made too little progress ({len(done)} chunks) for a meaningful test")
    d.stop()
    out = run([os.path.join(os.path.dirname(STATS), "..", "mkfs", "vdofs-check"), backing]).stdout
    log(out)
    check("consistent" in out, "vdofs-check after the crashes")


def test_sigkill_under_ext4():
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mnt = os.path.join(w, "mnt")
    fsdir = os.path.join(w, "fs")
    mkfs(backing, "--logical-size", "4G", "--physical-size", "1G", "--journal-size", "2M")
    d = Daemon([backing], mnt).start()
    loop = Loop(d.volume("v"))
    run(["mkfs.ext4", "-q", "-F", loop.dev], timeout=300)
    fs = FsMount(loop.dev, fsdir)
    src = os.path.join(w, "src.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(16 << 20))
    want = sha256_file(src)
    # Durable files: written and fsynced before the crash.
    for i in range(3):
        run(["dd", "if=" + src, "of=" + os.path.join(fsdir, f"kept{i}"), "bs=1M", "conv=fsync", "status=none"])
    run(["sync"], timeout=120)
    # Files still being written when the daemon dies.
    busy = subprocess.Popen(["sh", "-c", f"i=0; while :; do cp {src} {fsdir}/busy$i; i=$((i+1)); done"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    d.crash()
    busy.kill()
    busy.wait(timeout=60)
    fs.unmount()
    loop.detach()
    d = Daemon([backing], mnt).start()
    loop = Loop(d.volume("v"))
    fs = FsMount(loop.dev, fsdir)  # ext4 replays its own journal
    for i in range(3):
        got = sha256_file(os.path.join(fsdir, f"kept{i}"))
        check(got == want, f"kept{i}: checksum changed across the crash")
    fs.unmount()
    run(["fsck.ext4", "-fn", loop.dev], timeout=300)
    loop.detach()
    st = d.stats("v")
    check(st["completed_recovery_count"] == 1, f"one recovery: {st['completed_recovery_count']}")
    d.stop()
    out = run([os.path.join(os.path.dirname(STATS), "..", "mkfs", "vdofs-check"), backing]).stdout
    check("consistent" in out, f"vdofs-check: {out}")


if __name__ == "__main__":
    run_tests([
        ("SIGKILL at random moments while fsyncing chunks: every fsynced chunk survives", test_sigkill_while_fsyncing),
        ("SIGKILL under ext4: fsynced files survive, fsck.ext4 -fn clean, vdofs-check clean", test_sigkill_under_ext4),
    ])
