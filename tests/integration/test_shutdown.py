#!/usr/bin/env python3
"""Shutdown while the volume is busy (issue 11): SIGTERM with ext4 mounted on a loop device over
the volume must not strand the filesystem. The daemon makes everything durable (as a flush does),
keeps serving, says in its log what it waits for, and exits by itself once the loop device is
detached (the volume file's last release). A remount then needs no recovery, fsck is clean and
every synced file is intact."""
import os
import subprocess

from harness import (Daemon, FsMount, Loop, STATS, check, log, mkfs, run, run_tests, sha256_file,
                     tmpdir, wait_for)

MIB = 1 << 20


def write_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
    return sha256_file(path)


def test_sigterm_with_loop_device_waits_for_release():
    w = tmpdir()
    backing = os.path.join(w, "vol0.img")
    mkfs(backing, "--physical-size", "512M")
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    loop = Loop(d.volume("vol0"))
    run(["mkfs.ext4", "-q", "-F", loop.dev], timeout=300)
    fsdir = os.path.join(w, "fs")
    fs = FsMount(loop.dev, fsdir)
    sums = {"before": write_file(os.path.join(fsdir, "before"), 8 * MIB)}
    run(["sync", "-f", fsdir], timeout=120)

    d.proc.send_signal(15)
    # State, not time: the daemon says it has flushed and what it is waiting for.
    wait_for(lambda: "waiting for" in d.log() or d.proc.poll() is not None, 120,
             "the daemon to log what it waits for")
    log([line for line in d.log().splitlines() if "SIGTERM" in line or "waiting" in line])
    check(d.proc.poll() is None, f"vdofs exited on SIGTERM while the loop device held the volume\n{d.log()}")
    check(loop.dev.split("/")[-1] in d.log(), "the log names the loop device that holds the volume")
    # A busy mount is never detached: an explicit non-lazy unmount is refused while the loop holds it.
    p = subprocess.run(["fusermount3", "-u", d.mountpoint], capture_output=True, text=True, timeout=30)
    check(p.returncode != 0, "fusermount3 -u of a busy mount must fail, not detach it")

    # The filesystem on top keeps working.
    sums["after"] = write_file(os.path.join(fsdir, "after"), 8 * MIB)
    run(["sync", "-f", fsdir], timeout=120)
    check(d.proc.poll() is None, "vdofs still serves after SIGTERM")

    fs.unmount()
    loop.detach()
    try:
        rc = d.proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"vdofs did not exit after the loop device was detached\n{d.log()}")
    check(rc == 0, f"vdofs exited {rc} after SIGTERM and the last release\n{d.log()}")
    wait_for(lambda: not os.path.ismount(d.mountpoint), 60, "the FUSE mount to go away")
    out = run([STATS, "--verbose", backing]).stdout
    check("clean" in out, f"the volume must be clean after the delayed shutdown: {out}")

    d = Daemon([backing], os.path.join(w, "mnt")).start()
    check(d.stats("vol0")["completed_recovery_count"] == 0, "a clean shutdown needs no recovery")
    loop = Loop(d.volume("vol0"))
    p = run(["fsck.ext4", "-fn", loop.dev], timeout=300, check=False)
    check(p.returncode == 0, f"fsck.ext4 -fn after the delayed shutdown:\n{p.stdout}{p.stderr}")
    fs = FsMount(loop.dev, fsdir)
    for name, want in sums.items():
        check(sha256_file(os.path.join(fsdir, name)) == want, f"{name} changed across the shutdown")
    fs.unmount()
    loop.detach()
    d.stop()


if __name__ == "__main__":
    run_tests([
        ("SIGTERM with ext4 on a loop device: keeps serving, exits after losetup -d",
         test_sigterm_with_loop_device_waits_for_release),
    ])
