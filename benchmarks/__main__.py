"""Run the benchmarks that are missing, then regenerate ``docs/benchmarks.md`` and its figures.

    python -m benchmarks --problems all \
        --samplers rlnas,rlnas-paper,tpe,random,evolution --seeds 20 --trials 300

Runs already in ``--out`` with the same number of trials are reused (delete the CSV to redo
them); the page covers every problem found in ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from benchmarks import report
from benchmarks import run


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    run.add_arguments(parser)
    parser.add_argument("--doc", default="docs/benchmarks.md")
    args = parser.parse_args(argv)
    run.run(run.split_list(args.problems), run.split_list(args.samplers),
            list(range(args.seeds)), args.trials, args.out, args.processes,
            tuple(run.split_list(args.rerun)))
    command = "python -m benchmarks " + shlex.join(argv)
    report.report(args.out, args.doc, None, command.strip())
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
