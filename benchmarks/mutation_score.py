"""The kill rate of the last ``mutmut run`` and its survivors, less the ones
``tests/mutation_survivors.md`` lists as equivalent (with a reason each).

    python -m benchmarks.mutation_score      # after `mutmut run` (make mutate does both)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results() -> dict[str, str]:
    out = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "results", "--all",
                          "true"], capture_output=True, text=True, cwd=ROOT).stdout
    found = {}
    for line in out.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep:
            found[name] = state
    return found


def equivalent() -> set[str]:
    path = ROOT / "tests" / "mutation_survivors.md"
    return set(re.findall(r"^- `([^`]+)`", path.read_text(), re.M)) if path.exists() else set()


def main() -> None:
    states, equiv = results(), equivalent()
    checked = {k: v for k, v in states.items() if v not in ("not checked", "skipped")}
    killed = sum(v in ("killed", "timeout") for v in checked.values())
    survived = sorted(k for k, v in checked.items() if v == "survived")
    open_ = [k for k in survived if k not in equiv]
    rate = killed / max(1, len(checked) - len(set(survived) & equiv))
    print(f"mutants: {len(states)}, checked: {len(checked)}, killed: {killed}, survived: "
          f"{len(survived)} ({len(survived) - len(open_)} listed as equivalent)")
    print(f"kill rate (equivalent ones set aside): {100 * rate:.1f}%")
    for name in open_:
        print(f"  survived: {name}")


if __name__ == "__main__":
    main()
