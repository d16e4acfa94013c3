"""What one script call costs, by way of running it: the figures behind the sandbox's design (app.engine.scripts).

Each way runs the same small script (`tong = so_ban_sao * 8000 + len(giay_to)`) over the same task data,
`--calls` times (100 by default), and prints the median, the 90th percentile and the slowest call:

- in-process: `script_language.execute` in this process, no isolation at all (the floor: compile under the
  policy and run with the guards);
- warm process + fork per call: what the platform does (`run_script`): a request to the warm sandbox process, whose
  child forked and confined ahead runs the script; back to back (the next child is still being forked when the next
  script comes), then with 5 ms between calls (a child is always waiting, as between the steps of a real load);
- fork of the host per call: `run_in_child` called in this process, so the host itself is forked each time (the
  child starts with a copy of the host's memory and, in a web process, its secrets and database sockets: rejected);
- new interpreter per call: `python -I script_language.py` started for each script (no warm process).

Usage: .venv/bin/python -m bench.script_sandbox [--calls 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable

from app.engine import script_language
from app.engine.scripts import Limits, run_script

SCRIPT = "tong = so_ban_sao * 8000 + len(giay_to)"
DATA = {"so_ban_sao": 3, "giay_to": ["CCCD", "GKS"], "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An"}}
TODAY = "2026-12-01"
LIMITS = Limits()
REQUEST = {"source": SCRIPT, "data": DATA, "today": TODAY, "limits": {
    "cpu_seconds": LIMITS.cpu_seconds, "wall_seconds": LIMITS.wall_seconds, "memory_mb": LIMITS.memory_mb,
    "output_bytes": LIMITS.output_bytes}}


def in_process() -> None:
    assert script_language.execute(SCRIPT, DATA, TODAY)["ok"]


def warm_and_fork() -> None:
    assert run_script(SCRIPT, DATA, TODAY, LIMITS).updates == {"tong": 24002}


def fork_the_host() -> None:
    assert script_language.run_in_child(REQUEST)["ok"]
    script_language.tidy()


def new_interpreter() -> None:
    body = json.dumps(REQUEST).encode()
    done = subprocess.run([sys.executable, "-I", script_language.__file__],  # noqa: S603 - our own file
                          input=struct.pack(">I", len(body)) + body, capture_output=True, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout[4:])["ok"]


def measure(name: str, call: Callable[[], None], calls: int, pause: float = 0.0) -> None:
    call()  # warm up (the warm process is started by the first call)
    times = []
    for _ in range(calls):
        time.sleep(pause)
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"{name:32} median {statistics.median(times):7.2f} ms   p90 {times[int(len(times) * 0.9) - 1]:7.2f} ms"
          f"   max {times[-1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    print(f"{args.calls} calls of: {SCRIPT}")
    measure("in-process (no isolation)", in_process, args.calls)
    measure("warm process + fork per call", warm_and_fork, args.calls)
    measure("  the same, 5 ms between calls", warm_and_fork, args.calls, pause=0.005)
    measure("fork of the host per call", fork_the_host, args.calls)
    measure("new interpreter per call", new_interpreter, args.calls)


if __name__ == "__main__":
    main()
