"""python -m chime_faults [--quick] [--only NAME] [--seed N] [--keep]

Starts the whole platform against a PostgreSQL cluster and a RabbitMQ node of its own,
runs each scenario (a burst of work with one fault in its middle), audits the outcome and
prints a table per fault. Exits 1 when any invariant failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from chime_faults.scenarios import all_scenarios
from chime_faults.suite import run_suite, table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chime_faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI subset, smaller bursts")
    parser.add_argument("--only", action="append", default=[], help="scenarios whose name has this")
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(2), "big"))
    parser.add_argument("--bots", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    scenarios = [s for s in all_scenarios(args.quick) if s.quick or not args.quick]
    if args.only:
        scenarios = [s for s in all_scenarios(args.quick) if any(o in s.name for o in args.only)]
    workdir = Path(tempfile.mkdtemp(prefix="chime-faults-"))
    workdir.chmod(0o755)  # the PostgreSQL cluster may belong to the postgres user
    print(f"[faults] work directory {workdir}", flush=True)
    outcomes = []
    try:
        outcomes = asyncio.run(
            run_suite(scenarios, quick=args.quick, seed=args.seed, workdir=workdir, bots=args.bots)
        )
    finally:
        if not args.keep and outcomes and all(o.passed for o in outcomes):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"[faults] logs kept in {workdir}/logs", flush=True)
    print()
    print(table(outcomes))
    for outcome in outcomes:
        if outcome.notes or outcome.problems:
            print(f"\n{outcome.scenario.name}:")
            for problem in outcome.problems:
                print(f"  FAIL  {problem}")
            for note in outcome.notes:
                print(f"        {note}")
    sys.exit(0 if outcomes and all(o.passed for o in outcomes) else 1)


if __name__ == "__main__":
    main()
