#!/usr/bin/env python3
"""Write log and replay (the shape of fstests' dm-log-writes tests, generic/455 and 482).

A real daemon runs with -o write_log=LOG while ext4 on a loop device takes a file-copy and fsync
workload and a fio job with verify. The log is then replayed (tools/vdofs-replay-log) onto the
image as it was before the daemon started, at flush points and at random crash points between
flushes (a random subset of the unflushed writes kept, one torn after a random sector). At every
point: vdofs-check is clean, the volume mounts, ext4 mounts (its journal replays), every file whose
fsync had returned before that point reads back with its checksum, and fsck.ext4 -fn is clean.

VDOFS_WRITE_LOG_STATES sets the number of crash states (default 40, as CI runs it; scripts/
crash-states runs thousands), VDOFS_TEST_SEED the seed (default 1). Both are printed."""
import hashlib
import json
import os
import random
import time

from harness import (BUILD, STATS, Daemon, FsMount, Loop, StepFailed, check, log, mkfs, run,
                     run_tests, sha256_file, tmpdir)

REPLAY = os.path.join(BUILD, "tools", "vdofs-replay-log")
CHECK = os.path.join(BUILD, "mkfs", "vdofs-check")


def wait_ready(d, name, timeout=300):
    """Waits until the volume has finished its background recovery."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            if d.stats(name)["operating_mode"] != "recovering":
                return
        except StepFailed as e:  # right after the mount, vdofs-stats may not see the volume yet
            last = e
        time.sleep(0.2)
    if last:
        raise last
    raise StepFailed(f"volume {name} still recovering after {timeout}s\n{d.log()}")


def content(rng, size, pool):
    # A third of the files repeat an earlier file's content: dedupe inside the log.
    if pool and rng.random() < 0.33:
        return rng.choice(pool)
    data = rng.randbytes(size)
    pool.append(data)
    return data


def workload(fsdir, logpath, rng):
    """Returns {relative path: (sha256, log size when its fsync returned)}."""
    synced = {}
    pool = []
    os.makedirs(os.path.join(fsdir, "d"), exist_ok=True)

    def put(name, data):
        path = os.path.join(fsdir, name)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        dfd = os.open(os.path.dirname(path), os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        synced[name] = (hashlib.sha256(data).hexdigest(), os.path.getsize(logpath))

    for i in range(10):
        put(f"d/f{i}", content(rng, rng.choice([4096, 65536, 300000, 1 << 20]), pool))
    # fio verifies its own writes; the file is synced at its end and checked by checksum later.
    fio = os.path.join(fsdir, "fio.dat")
    p = run(["fio", "--name=wl", f"--filename={fio}", "--rw=randwrite", "--bs=4k", "--size=8M",
             "--ioengine=psync", "--verify=crc32c", "--dedupe_percentage=50", "--end_fsync=1",
             "--fsync=64", "--verify_state_save=0", "--randseed=" + str(rng.randrange(1 << 30)), "--minimal"], timeout=300)
    check(p.stdout.split(";")[4] == "0", f"fio reported errors: {p.stdout}")
    with open(fio, "rb") as f:
        os.fsync(f.fileno())
    synced["fio.dat"] = (sha256_file(fio), os.path.getsize(logpath))
    for i in range(10, 16):
        put(f"d/f{i}", content(rng, rng.choice([4096, 200000, 1 << 20]), pool))
    # Overwrites of synced files: the older content stays right until the new one is synced.
    for i in (1, 4):
        put(f"d/f{i}", content(rng, 131072, pool))
    return synced


def check_point(w, image, point, synced, n):
    """One crash state: the image as the replay left it."""
    mnt = os.path.join(w, f"mnt{n}")
    fsdir = os.path.join(w, f"fs{n}")
    check_first = n % 2 == 0  # alternate who recovers: vdofs-check or the daemon
    if check_first:
        run([CHECK, image], timeout=300)
    d = Daemon([image], mnt, log_path=os.path.join(w, f"vdofs{n}.log")).start()
    wait_ready(d, "v")
    loop = Loop(d.volume("v"))
    fs = FsMount(loop.dev, fsdir)
    checked = 0
    for name, (sha, offset) in synced.items():
        if offset <= point["durable_offset"]:
            got = sha256_file(os.path.join(fsdir, name))
            check(got == sha, f"{name}, fsynced at log offset {offset}, is damaged at {point}")
            checked += 1
    fs.unmount()
    run(["fsck.ext4", "-fn", loop.dev], timeout=300)
    loop.detach()
    d.stop()
    p = run([CHECK, image], timeout=300)
    check("consistent" in p.stdout, f"vdofs-check: {p.stdout}")
    return checked


def test_write_log_replay():
    seed = int(os.environ.get("VDOFS_TEST_SEED", "1"))
    states = int(os.environ.get("VDOFS_WRITE_LOG_STATES", "40"))
    rng = random.Random(seed)
    log(f"seed {seed}, {states} crash states")
    w = tmpdir()
    image = os.path.join(w, "v.img")
    base = os.path.join(w, "base.img")
    logpath = os.path.join(w, "write.log")
    mkfs(image, "--logical-size", "1G", "--physical-size", "512M")
    run(["cp", "--sparse=always", image, base])
    d = Daemon([image], os.path.join(w, "mnt"), options=["write_log=" + logpath]).start()
    loop = Loop(d.volume("v"))
    run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", loop.dev], timeout=300)
    fs = FsMount(loop.dev, os.path.join(w, "fs"))
    run(["sync", "-f", fs.mountpoint])
    baseline = os.path.getsize(logpath)
    synced = workload(fs.mountpoint, logpath, rng)
    # A crash, not a clean shutdown: the log ends wherever the daemon was.
    d.crash()
    fs.unmount()
    loop.detach()
    info = json.loads(run([REPLAY, "--list", logpath]).stdout)
    offsets = info["flush_offsets"]
    first = next(i for i, o in enumerate(offsets) if o >= baseline) + 1  # flush points are 1-based
    log(f"log: {info['writes']} writes, {info['flushes']} flushes, {info['valid_bytes']} bytes; "
        f"ext4 complete from flush {first}")
    check(info["flushes"] - first > 20, f"too few flushes in the workload: {info}")
    explored = 0
    files_checked = 0
    replayed = os.path.join(w, "r.img")
    for n in range(states):
        k = rng.randrange(first, info["flushes"] + 1)
        if n % 3 == 2 or n == states - 1:
            args = ["--flush", str(k if n != states - 1 else info["flushes"])]
        else:
            args = ["--between", str(k), "--seed", str(rng.randrange(1 << 32))]
        point = json.loads(run([REPLAY, "--base", base, "--out", replayed, *args, logpath], timeout=300).stdout)
        files_checked += check_point(w, replayed, point, synced, n)
        explored += 1
        log(f"state {n}: {point}: ok")
    check(files_checked > 0, "no synced file was checked at any point")
    log(f"crash states explored: {explored}, synced-file checks: {files_checked}, lost fsynced files: 0")


if __name__ == "__main__":
    run_tests([("write log: replay at flush points and torn crash points, ext4 + fio", test_write_log_replay)],
              per_test_timeout=int(os.environ.get("VDOFS_WRITE_LOG_TIMEOUT", "900")))
