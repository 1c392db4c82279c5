"""What it costs a process to join a study of N finished trials: resume by replay.

    python -m benchmarks.resume_cost --url postgresql://rlnas:PASSWORD@127.0.0.1:5432/rlnas_test \
        --trials 10000 --out benchmarks/results/resume_cost.json

Builds a history of ``--trials`` finished trials in memory on the synthetic NAS-like problem
(random ones by default; ``--history rlnas`` samples them with ``RLNASSampler``, slower), copies
it into a fresh study in ``--url``, then times what a joining worker does: open the study, read
every trial, and replay them (``RLNASSampler.consume``: one REINFORCE update per
``trials_per_update`` trials). Checks that the replayed controller equals a sampler's that
consumed the same history in memory.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

import optuna
import torch

from benchmarks.problems import get_problem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resume_cost", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--problem", default="synthetic-10")
    parser.add_argument("--history", choices=("random", "rlnas"), default="random")
    parser.add_argument("--out", default="benchmarks/results/resume_cost.json")
    args = parser.parse_args(argv)

    from optuna_rlnas import RLNASSampler
    from optuna_rlnas.storage import make_storage
    from optuna_rlnas.storage import mask_url

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = get_problem(args.problem)
    result: dict = {"trials": args.trials, "problem": args.problem, "url": mask_url(args.url)}

    # The history: random trials by default (fast to make; replaying them is the same work as
    # replaying the controller's own), or sampled by RLNASSampler, whose policy is then checked.
    original = RLNASSampler(seed=0)
    sampler = original if args.history == "rlnas" else optuna.samplers.RandomSampler(seed=0)
    history = optuna.create_study(sampler=sampler, direction="maximize")
    start = time.perf_counter()
    history.optimize(problem.make_objective(0), n_trials=args.trials)
    original.consume(history)
    result["history"] = args.history
    result["sample_history_s"] = time.perf_counter() - start

    storage = make_storage(args.url)
    name = f"bench-resume-{args.trials}-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    start = time.perf_counter()
    _bulk_copy(storage, study._study_id, history.trials)
    result["copy_to_storage_s"] = time.perf_counter() - start

    # The joining worker: a fresh process would do exactly this.
    start = time.perf_counter()
    joined = RLNASSampler(seed=0)
    study = optuna.load_study(study_name=name, storage=make_storage(args.url), sampler=joined)
    trials = study.get_trials(deepcopy=False)  # what consume reads, through Optuna's cache
    result["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    joined.consume(study)
    result["replay_s"] = time.perf_counter() - start
    result["resume_s"] = result["read_s"] + result["replay_s"]
    result["n_consumed"] = joined.n_consumed
    result["n_updates"] = joined.n_updates
    assert len(trials) == args.trials and joined.n_consumed == args.trials

    # The replayed controller equals the one that sampled the history (the same updates).
    mine, theirs = _by_key(joined.controller), _by_key(original.controller)
    result["same_policy"] = mine.keys() == theirs.keys() and all(
        torch.allclose(mine[k], theirs[k], rtol=1e-4, atol=1e-5) for k in theirs
    )
    result["max_abs_diff"] = max(float((mine[k] - theirs[k]).detach().abs().max()) for k in theirs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def _bulk_copy(storage, study_id: int, trials: list[optuna.trial.FrozenTrial]) -> None:
    """Insert finished trials in one transaction: set-up, not measured.

    ``study.add_trials`` commits once per trial, which takes most of an hour for 10,000 trials on
    a busy machine; this writes the same rows through Optuna's own table models (the benchmark,
    not the package, reaches into them).
    """
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    for t in trials:
        row = models.TrialModel(number=t.number, study_id=study_id, state=t.state)
        row.datetime_start, row.datetime_complete = t.datetime_start, t.datetime_complete
        row.params = [
            models.TrialParamModel(
                param_name=n,
                param_value=t.distributions[n].to_internal_repr(v),
                distribution_json=distribution_to_json(t.distributions[n]),
            )
            for n, v in t.params.items()
        ]
        value, kind = models.TrialValueModel.value_to_stored_repr(t.value)
        row.values = [models.TrialValueModel(objective=0, value=value, value_type=kind)]
        row.system_attributes = [
            models.TrialSystemAttributeModel(key=k, value_json=json.dumps(v))
            for k, v in t.system_attrs.items()
        ]
        session.add(row)
    session.commit()
    session.close()


def _by_key(controller: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters by name, heads by decision key (their index order may differ)."""
    heads = ("decision_embedding", "action_embedding", "head_weight", "head_bias")
    out = {k: v for k, v in controller.named_parameters() if k not in heads}
    for key in controller.keys:
        for table, rows in zip(heads, controller.head(key)):
            out[f"{table}[{key}]"] = rows
    return out


if __name__ == "__main__":
    main()
