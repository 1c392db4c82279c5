"""The controller against random search on a hidden target (issue 2's synthetic check).

8 decisions x 4 choices (4^8 = 65,536 architectures); the reward is the number of decisions that
match a hidden target drawn per seed. Prints, per sampler in one run, how often the target was
found within the budget and, for RLNAS, how often the controller's most likely architecture
(greedy along the policy) is the target.

    python -m benchmarks.hidden_target --seeds 10 --trials 300
"""

from __future__ import annotations

import argparse

import numpy as np
import optuna

from optuna_rlnas import RLNASSampler

N_DECISIONS, N_CHOICES = 8, 4


def objective_for(seed: int):
    target = np.random.RandomState(100 + seed).randint(0, N_CHOICES, size=N_DECISIONS)

    def objective(trial: optuna.Trial) -> float:
        choices = list(range(N_CHOICES))
        return float(
            sum(
                trial.suggest_categorical(f"d{i}", choices) == target[i] for i in range(N_DECISIONS)
            )
        )

    return target, objective


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = {"rlnas": [], "random": []}
    for seed in range(args.seeds):
        target, objective = objective_for(seed)
        sampler = RLNASSampler(seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=args.trials)
        probs = sampler.decision_probabilities(study.trials[-1])
        greedy = [int(max(p, key=p.get)) for p in probs.values()]
        rows["rlnas"].append((study.best_value, greedy == list(target)))
        baseline = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
        )
        baseline.optimize(objective, n_trials=args.trials)
        rows["random"].append((baseline.best_value, None))
    print(
        f"{args.seeds} seeds x {args.trials} trials, {N_DECISIONS} decisions x {N_CHOICES} choices"
    )
    print("| sampler | target found | best (mean, of 8) | greedy architecture = target |")
    print("|---|---|---|---|")
    found = {}
    for name, results in rows.items():
        found[name] = sum(best == N_DECISIONS for best, _ in results)
        greedy = "" if name == "random" else f"{sum(g for _, g in results)}/{args.seeds}"
        mean_best = np.mean([best for best, _ in results])
        print(f"| {name} | {found[name]}/{args.seeds} | {mean_best:.2f} | {greedy} |")
    ratio = found["rlnas"] / max(found["random"], 1)
    print(
        f"target found: rlnas / random = {found['rlnas']}/{max(found['random'], 1)} = {ratio:.1f}"
    )


if __name__ == "__main__":
    main()
