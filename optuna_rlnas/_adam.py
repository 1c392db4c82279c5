"""Adam that moves only the rows a batch touched (lazy, like ``torch.optim.SparseAdam``).

The controller keeps every decision's parameters in shared tables that grow when a new decision
is first seen (define-by-run). Each row of a table has its own Adam state (moments and step
count), and a step moves only the rows named by the caller, the rows the batch read: a head
registered after many updates takes its first step as a fresh Adam would, and a head
registered but never used (by a trial that failed, or by ``decision_probabilities``) never
moves and never changes how the others move. So the policy depends only on the batches, not on
when a decision was first seen, and a resume by replay is exact.

Tensors that are not tables (the LSTM, the attention) take torch's arithmetic through the
``torch._foreach_*`` kernels that ``torch.optim.Adam`` uses; as there, a tensor without a
gradient is left alone, its state included. Tables on the CPU are stepped through numpy views
of the same memory (at this size numpy's calls cost less than torch's dispatch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class _State:
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    steps: int | torch.Tensor  # one count for a tensor, one per row for a table

    def row_steps(self) -> torch.Tensor:
        """A table's step counts, one per row."""
        if not isinstance(self.steps, torch.Tensor):
            raise ValueError("a tensor stepped whole cannot be stepped by rows.")
        return self.steps

    def count_step(self) -> int:
        """Count one step of a tensor stepped whole, and return the new count."""
        if isinstance(self.steps, torch.Tensor):
            raise ValueError("a table stepped by rows cannot be stepped whole.")
        self.steps += 1
        return self.steps


class RowAdam:
    """Adam (Kingma & Ba 2015, Algorithm 1; torch's defaults) with lazy per-row tables.

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> adam = RowAdam(layer, lr=0.1)
        >>> layer(torch.ones(2)).sum().backward()
        >>> adam.step(rows={"weight": torch.tensor([0])})
    """

    def __init__(
        self,
        module: torch.nn.Module,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.module, self.lr, self.betas, self.eps = module, lr, betas, eps
        self.state: dict[str, _State] = {}

    @torch.no_grad()
    def step(self, rows: Mapping[str, torch.Tensor]) -> None:
        """One step. ``rows``: for each table (by parameter name), the indices of the rows to
        move; those rows only are moved. Parameters not named are stepped whole."""
        # (parameter, its gradient, its state[, the rows to move])
        dense: list[tuple[torch.Tensor, torch.Tensor, _State]] = []
        tables: list[tuple[torch.Tensor, torch.Tensor, _State, torch.Tensor]] = []
        for name, p in self.module.named_parameters():
            if name in rows:
                if len(rows[name]):
                    if p.grad is None:
                        raise ValueError(f"rows name {name!r}, but it has no gradient.")
                    tables.append((p, p.grad, self._state(name, p, per_row=True), rows[name]))
            elif p.grad is not None:
                dense.append((p, p.grad, self._state(name, p, per_row=False)))
        if tables:
            self._step_rows(tables)
        if dense:
            self._step_dense(dense)

    def _step_rows(
        self, tables: list[tuple[torch.Tensor, torch.Tensor, _State, torch.Tensor]]
    ) -> None:
        for p, grad, state, index in tables:
            arrays = (p.detach(), grad, state.exp_avg, state.exp_avg_sq, state.row_steps(), index)
            if p.device.type == "cpu":
                # Views of the same memory: a few numpy calls on a handful of rows cost less
                # than torch's dispatch (the controller's tables are small).
                _adam_rows(*(a.numpy() for a in arrays), lr=self.lr, betas=self.betas, eps=self.eps)
            else:
                _adam_rows(*arrays, lr=self.lr, betas=self.betas, eps=self.eps)

    def _step_dense(self, dense: list[tuple[torch.Tensor, torch.Tensor, _State]]) -> None:
        beta1, beta2 = self.betas
        params = [p for p, _, _ in dense]
        grads = [g for _, g, _ in dense]
        exp_avgs = [s.exp_avg for _, _, s in dense]
        exp_avg_sqs = [s.exp_avg_sq for _, _, s in dense]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        steps = [s.count_step() for _, _, s in dense]
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, [(1 - beta2**t) ** 0.5 for t in steps])
        torch._foreach_add_(denoms, self.eps)
        step_sizes = [-self.lr / (1 - beta1**t) for t in steps]
        torch._foreach_addcdiv_(params, exp_avgs, denoms, step_sizes)

    def _state(self, name: str, p: torch.Tensor, per_row: bool) -> _State:
        state = self.state.get(name)
        if state is None:
            # Per row: a count shaped to broadcast over the row (exact in float32 to 2**24).
            shape = (p.shape[0],) + (1,) * (p.dim() - 1)
            steps = p.new_zeros(shape) if per_row else 0
            state = self.state[name] = _State(torch.zeros_like(p), torch.zeros_like(p), steps)
        elif state.exp_avg.shape != p.shape:  # a table grew: its new rows start from zero
            grown = _State(torch.zeros_like(p), torch.zeros_like(p), state.steps)
            old = state.exp_avg.shape[0]
            grown.exp_avg[:old], grown.exp_avg_sq[:old] = state.exp_avg, state.exp_avg_sq
            if isinstance(state.steps, torch.Tensor):
                grown.steps = state.steps.new_zeros((p.shape[0], *state.steps.shape[1:]))
                grown.steps[:old] = state.steps
            state = self.state[name] = grown
        return state


def _adam_rows(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    steps: Any,
    index: Any,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """Algorithm 1 of Kingma & Ba on the rows ``index`` (unique) of numpy arrays or tensors,
    in place; each row with its own step count."""
    beta1, beta2 = betas
    g = grad[index]
    steps[index] += 1
    t = steps[index]
    m = exp_avg[index] * beta1 + g * (1 - beta1)
    v = exp_avg_sq[index] * beta2 + g * g * (1 - beta2)
    exp_avg[index], exp_avg_sq[index] = m, v
    bias_correction2_sqrt = (1 - beta2**t) ** 0.5
    param[index] -= lr / (1 - beta1**t) * m / (v**0.5 / bias_correction2_sqrt + eps)
