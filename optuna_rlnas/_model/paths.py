"""Which decision comes next: the path structure of a define-by-run space, learnt from children.

An objective asks for its decisions one at a time, and which one comes next may depend on the
actions so far (a number of layers, an optimizer with its own parameters). A candidate drawn
ahead of the trial can only cover the decisions its actions imply, so the structure is learnt
from the finished children: a trie over their decision sequences. At a node where every child
went on with the same decision (a static space: every node), that is the next one. Where they
differ, the earlier step whose action best predicts the next decision among the children that
passed there (a "num_layers" several steps back, an "optimizer" just before) decides it; an
action that no child took there leaves the next decision unknown, and the candidate stops:
the trial draws what follows step by step.
"""

from __future__ import annotations

from collections import Counter
from collections import defaultdict
from collections.abc import Hashable
from collections.abc import Sequence
from typing import Any

END = "<end>"  # the child took no further decision
# ("same", decision) or ("by", step, {action: decision}): how the next decision is told.
Rule = tuple[Any, ...]
_ROOT = 0


class Paths:
    """A trie over the decision sequences of finished children.

    Decisions are any hashable values (the sampler's ``Decision`` objects). A node is the
    sequence of decisions so far.

    Example:
        >>> paths = Paths()
        >>> paths.add(["n", "a"], [1, 0])  # n = 1: one more decision
        >>> paths.add(["n", "a", "b"], [2, 0, 0])  # n = 2: two
        >>> node = paths.child(paths.child(0, "n"), "a")
        >>> paths.next(node, [2, 1]), paths.next(node, [1, 1]), paths.next(node, [3, 1])
        ('b', '<end>', None)
    """

    def __init__(self) -> None:
        self._children: list[dict[Hashable, int]] = [{}]
        # Per node: how often each decision came next, and (child, next decision) for the
        # children that passed there; a child's actions are kept once, in _actions.
        self._nexts: list[Counter[Hashable]] = [Counter()]
        self._seen: list[list[tuple[int, Hashable]]] = [[]]
        self._actions: list[tuple[int, ...]] = []
        self._depth: list[int] = [0]
        self._rules: dict[int, Rule] = {}  # branching node -> ("by", step, table)
        # Grows whenever what :meth:`next` may answer can change: a new next decision
        # somewhere, or a child through a branching node (whose rule is then recomputed).
        self.changes = 0

    def add(self, decisions: Sequence[Hashable], actions: Sequence[int]) -> None:
        """Record one finished child's path."""
        node = _ROOT
        index = len(self._actions)
        self._actions.append(tuple(int(a) for a in actions))
        for decision in [*decisions, END]:
            self._seen[node].append((index, decision))
            nexts = self._nexts[node]
            if decision not in nexts or len(nexts) > 1:
                self.changes += 1
            nexts[decision] += 1
            if len(nexts) > 1:
                self._rules.pop(node, None)
            if decision is END:
                break
            node = self._child(node, decision)

    def _child(self, node: int, decision: Hashable) -> int:
        nxt = self._children[node].get(decision)
        if nxt is None:
            nxt = len(self._children)
            self._children[node][decision] = nxt
            self._children.append({})
            self._nexts.append(Counter())
            self._depth.append(self._depth[node] + 1)
            self._seen.append([])
        return nxt

    def child(self, node: int, decision: Hashable) -> int | None:
        """The node after ``decision`` at ``node``, or None if no child went that way."""
        return self._children[node].get(decision)

    def next(self, node: int, actions: Sequence[int]) -> Hashable | None:
        """The decision after ``node`` for a candidate with these ``actions`` so far: a
        decision, :data:`END`, or ``None`` when the children seen cannot tell."""
        rule = self._rule(node)
        if rule is None:
            return None
        if rule[0] == "same":
            same: Hashable = rule[1]
            return same
        _, step, table = rule
        decision: Hashable | None = table.get(actions[step])
        return decision

    def rule(self, node: int) -> Rule | None:
        """How :meth:`next` decides at ``node``: ``("same", decision)``, ``("by", step,
        {action: decision})``, or ``None`` (no child passed there)."""
        return self._rule(node)

    def _rule(self, node: int) -> Rule | None:
        nexts = self._nexts[node]
        if len(nexts) <= 1:  # a static space: every node
            return ("same", next(iter(nexts))) if nexts else None
        rule = self._rules.get(node)
        if rule is None:
            seen = [(self._actions[i], d) for i, d in self._seen[node]]
            rule = self._rules[node] = self._best_step(seen, self._depth[node])
        return rule

    @staticmethod
    def _best_step(seen: list[tuple[tuple[int, ...], Hashable]], depth: int) -> Rule:
        """The step whose action predicts the next decision for most children (the latest
        step among equals: a conditional usually follows the decision it depends on)."""
        if depth == 0:  # no step to tell them apart: the most frequent first decision
            return ("same", Counter(d for _, d in seen).most_common(1)[0][0])
        best: Rule | None = None
        best_score = -1
        for step in range(depth - 1, -1, -1):
            by_action: dict[int, Counter[Hashable]] = defaultdict(Counter)
            for actions, decision in seen:
                by_action[actions[step]][decision] += 1
            score = sum(c.most_common(1)[0][1] for c in by_action.values())
            if score > best_score:
                table = {a: c.most_common(1)[0][0] for a, c in by_action.items()}
                best, best_score = ("by", step, table), score
        assert best is not None  # depth >= 1
        return best
