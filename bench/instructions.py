"""Instructions per article, by process, under callgrind: a figure this VM's noise leaves alone.

Usage:
  .venv/bin/python bench/instructions.py [--articles 72,144] [--checkout PATH ...]

Runs `bench/throughput.py throughput` of each checkout (default: this one) twice, with the two
article counts, under `valgrind --tool=callgrind --trace-children=yes`, and reads the
instruction total of every process of the fetch tree from callgrind's output. The difference
between the two runs, divided by the difference in articles, is what one more article costs
each kind of process; what is left of the smaller run is the run's fixed cost (start-up,
imports, the first page's lazy loads). The biggest shared objects of that per-article cost are
listed beside it.

Wall and CPU time on this VM vary by a third between hours (bench/README.md: the same commit's
CPU per article went from 12.0 to 16.6 ms in one afternoon); instruction counts repeat to a
fraction of a percent. They are not time: SIMD code (ISA-L, SHA-1) and cache misses weigh
differently natively, so a gap here is where to look, and the wall-clock benchmarks remain the
figures the issues ask for.

A checkout with its own `.venv` runs with that interpreter (another commit's dependencies);
otherwise with this one and the checkout on PYTHONPATH. A run takes 2-5 minutes: callgrind is
about fifty times slower than the CPU. The fetch runs with 4 requests in flight (`--concurrency
4`): under callgrind, with more, a page can reach the read timeout while the slowed service
attends to the others. Run nothing else meanwhile, for the same reason.

Processes are told apart by command line; of several with one command line, the first started
(lowest pid) is the parent and the others its forked children: the service and the workers it
forks, or the fork server and its workers.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
# One function's own cost in callgrind_annotate's listing: count, share, name [object].
_COST_LINE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*?)(?:\s+\[(.*)\])?\s*$")
_TOP_LIBRARIES = 6


@dataclass(frozen=True)
class Process:
    pid: int
    role: str
    instructions: int
    libraries: Counter[str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", default="72,144",
                        help="the two article counts, smaller first (default: 72,144)")
    parser.add_argument("--checkout", action="append", type=Path,
                        help="a checkout to measure (repeatable; default: this one)")
    args = parser.parse_args()
    small, large = (int(n) for n in args.articles.split(","))
    if not 0 < small < large:
        parser.error("--articles: two counts, the smaller first")
    missing = [tool for tool in ("valgrind", "callgrind_annotate") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"needs {' and '.join(missing)} (Debian's valgrind package)")
    for checkout in args.checkout or [_REPO]:
        runs = {count: measure(checkout.resolve(), count) for count in (small, large)}
        report(checkout, small, large, runs[small], runs[large])


def measure(checkout: Path, articles: int) -> list[Process]:
    with tempfile.TemporaryDirectory(prefix="bench-cg-") as out:
        prefix = (f"valgrind --tool=callgrind --trace-children=yes "
                  f"--callgrind-out-file={out}/cg.%p")
        python = checkout / ".venv" / "bin" / "python"
        env = dict(os.environ)
        if not python.exists():
            python = Path(sys.executable)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout),
                                                               env.get("PYTHONPATH")]))
        command = [str(python), str(checkout / "bench" / "throughput.py"), "--concurrency", "4",
                   "--prefix", prefix, "throughput", "--articles", str(articles)]
        print(f"{checkout}: {articles} articles under callgrind ...", flush=True)
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        stored = re.search(r"articles stored\s+(\d+)", done.stdout)
        if stored is None or int(stored.group(1)) != articles:
            sys.exit(f"the fetch stored {stored.group(1) if stored else 'no'} articles of "
                     f"{articles}: a per-article figure would be wrong\n{done.stdout[-2000:]}")
        return processes(sorted(Path(out).glob("cg.*")))


def processes(files: list[Path]) -> list[Process]:
    by_command: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for path in files:
        with path.open(errors="replace") as lines:  # pid and cmd are in the first lines
            header = dict(line.split(":", 1) for line in itertools.islice(lines, 8)
                          if ":" in line)
        by_command[header["cmd"].strip()].append((int(header["pid"]), path))
    found = []
    for command, members in by_command.items():
        members.sort()
        for index, (pid, path) in enumerate(members):
            found.append(Process(pid, _role(command, parent=index == 0), *_counts(path)))
    return found


def _role(command: str, *, parent: bool) -> str:
    if "resource_tracker" in command:
        return "resource tracker"
    if "forkserver" in command:
        return "fork server" if parent else "extraction workers"
    if " fetch" in command:
        return "service" if parent else "extraction workers"
    return "other"


def _counts(path: Path) -> tuple[int, Counter[str]]:
    annotated = subprocess.run(["callgrind_annotate", "--threshold=100", str(path)],
                               capture_output=True, text=True, check=True).stdout
    total = 0
    libraries: Counter[str] = Counter()
    for line in annotated.splitlines():
        match = _COST_LINE.match(line)
        if match is None:
            continue
        count = int(match.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in match.group(2):
            total = count
        else:
            libraries[Path(match.group(3) or "?").name] += count
    return total, libraries


def report(checkout: Path, small: int, large: int, first: list[Process],
           second: list[Process]) -> None:
    extra = large - small
    print(f"\n{checkout}: instructions, {small} and {large} articles")
    print(f"  {'process':<22}{'per article':>14}{'fixed':>14}")
    for role in sorted({p.role for p in first + second}):
        before = sum(p.instructions for p in first if p.role == role)
        after = sum(p.instructions for p in second if p.role == role)
        per_article = (after - before) / extra
        fixed = before - small * per_article
        print(f"  {role:<22}{per_article / 1e6:>12.1f} M{fixed / 1e9:>12.2f} G")
        libraries: Counter[str] = Counter()
        for p in second:
            if p.role == role:
                libraries.update(p.libraries)
        for p in first:
            if p.role == role:
                libraries.subtract(p.libraries)
        for library, count in libraries.most_common(_TOP_LIBRARIES):
            if count / extra >= 0.1e6:
                print(f"      {library:<50}{count / extra / 1e6:>8.2f} M")
    total_before = sum(p.instructions for p in first)
    total_after = sum(p.instructions for p in second)
    print(f"  {'all':<22}{(total_after - total_before) / extra / 1e6:>12.1f} M")


if __name__ == "__main__":
    main()
