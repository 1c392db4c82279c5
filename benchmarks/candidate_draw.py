"""What drawing the model's candidates costs as their number grows (issue 11, sampler time).

    python -m benchmarks.candidate_draw --problem nb201-cifar10 --trials 30 --counts 64 256 1024

Runs the default sampler for ``--trials`` trials on a problem (so that the controller has a
policy and the paths of the space are known), then times ``--repeats`` draws of each number of
candidates from that policy (``optuna_rlnas._model.candidates.draw``: the batched LSTM rollout)
in CPU time on one thread, and prints milliseconds per draw, per candidate, and the ratio to the
default's 256. A cost that grows like the count means that drawing a larger batch once per
policy version (the policy changes only at an update) saves nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna

from benchmarks.problems import get_problem

DEFAULT = 256


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem", default="nb201-cifar10")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--counts", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from optuna_rlnas import RLNASSampler
    from optuna_rlnas._model.candidates import draw

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = get_problem(args.problem)
    sampler = RLNASSampler(seed=args.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(problem.make_objective(args.seed), n_trials=args.trials)
    assert sampler._guided is not None  # the default is model-guided
    paths, policy = sampler._guided.guide.paths, sampler._learner.policy()
    rng = np.random.RandomState(args.seed)
    counts = sorted(set(args.counts) | {DEFAULT})
    ms = {}
    for n in counts:
        draw(policy, paths, n, rng)  # warm-up
        start = time.process_time()
        for _ in range(args.repeats):
            draw(policy, paths, n, rng)
        ms[n] = (time.process_time() - start) / args.repeats * 1e3
    print(f"{args.problem}, after {args.trials} trials, {args.repeats} draws each, CPU time")
    print("| candidates | ms per draw | us per candidate | x the default's 256 |")
    print("|---:|---:|---:|---:|")
    for n in counts:
        print(f"| {n} | {ms[n]:.2f} | {1e3 * ms[n] / n:.1f} | {ms[n] / ms[DEFAULT]:.2f} |")


if __name__ == "__main__":
    main()
