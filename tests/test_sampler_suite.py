"""Optuna's generic sampler test suite (``optuna.testing.pytest_samplers``) on RLNASSampler.

The release's own tests/samplers_tests/test_samplers.py runs the same suites on
``RLNASSampler.paper()`` (tests/optuna_release/); these run the default sampler.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import MultiObjectiveSamplerTestCase
from optuna.testing.pytest_samplers import SingleOnlySamplerTestCase

from optuna_rlnas import RLNASSampler


class TestBasicSampler(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: RLNASSampler(seed=0)


class TestSingleOnlySampler(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: RLNASSampler(seed=0)


class TestMultiObjectiveSampler(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: RLNASSampler(seed=0, reward_fn=lambda values: values[1] - values[0])
