#!/usr/bin/env python3
"""Counts test cases in meson JUnit logs and prints the final "N passed, N failed" line.

Every <testcase> counts once. A failure, an error or a skip counts as failed (CI suites must run,
never skip). Exits non-zero if anything failed or if no test ran at all."""
import sys
import xml.etree.ElementTree as ET

passed = failed = 0
problems = []
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        failed += 1
        problems.append(f"{path}: unreadable ({e})")
        continue
    for tc in root.iter("testcase"):
        name = f"{tc.get('classname', '')}.{tc.get('name', '')}"
        bad = [c.tag for c in tc if c.tag in ("failure", "error", "skipped")]
        if bad:
            failed += 1
            problems.append(f"{path.rsplit('/', 1)[-1]}: {name}: {bad[0]}")
        else:
            passed += 1
for p in problems[:50]:
    print("  " + p)
if passed + failed == 0:
    print("no test ran")
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
