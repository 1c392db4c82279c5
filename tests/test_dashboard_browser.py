"""The dashboard in a real browser: ``rlnas search``, ``rlnas dashboard``, Debian's Chromium.

A short default search (digits, 6 layers with skip connections) writes a study whose trials
carry the architecture attributes and whose system attributes carry the controller's figures. A
second study, built here, holds one trial with the attributes written the way the objective
writes them once no attribute is longer than a line, and an artifact uploaded with
``optuna.artifacts`` into ``<stem>_artifacts`` next to the SQLite file. ``rlnas dashboard``
serves both on 127.0.0.1; Playwright drives ``/usr/bin/chromium`` (no browser download:
``executable_path``) and checks that the four controller figures render with whole-number
ticks, that the objective shows by its name, that a trial page is no wider than the window, and
that the artifact is listed and downloads. Screenshots go to the test's tmp folder, or to
``$RLNAS_SCREENSHOT_DIR`` (``docs/make_screenshot.py`` sets it to ``docs/img``). Without
Chromium or Playwright the test skips, and fails where ``RLNAS_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RLNAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Graph object id -> the title the figure shows (optuna_rlnas.dashboard.FIGURE_IDS).
FIGURES = {
    "rlnas-reward": "Controller: reward and baseline",
    "rlnas-entropy": "Controller: policy entropy over updates",
    "rlnas-policy": "Controller: current policy",
    "rlnas-best-architecture": "Best architecture",
}
N_TRIALS = int(os.environ.get("RLNAS_SCREENSHOT_TRIALS", "3"))
SEARCH = ["--n-trials", str(N_TRIALS), "--epochs", "1", "--dashboard-every", "1"]  # the default
BUILT = "built-in-the-test"  # the second study's name
ARTIFACT = "child-model.txt"  # the file uploaded to its trial
WINDOW = {"width": 1500, "height": 1150}

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def _missing(reason: str) -> None:
    if os.environ.get("RLNAS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (RLNAS_REQUIRE_SERVICES=1, so this fails instead of skipping)")
    pytest.skip(reason)


def _rlnas() -> list[str]:
    script = shutil.which("rlnas")
    return [script] if script else [sys.executable, "-m", "optuna_rlnas.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


@pytest.fixture(scope="module")
def browser_type():
    if not os.path.exists(CHROMIUM):
        _missing(f"Chromium is not at {CHROMIUM}; .ci/install installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        yield playwright.chromium


def _record_child(trial, architecture) -> None:
    """Record a trained child the way the objective does (no attribute wider than a line:
    optuna-dashboard never wraps one, docs/dashboard.md): one short attribute per layer, the
    whole as a system attribute, which the dashboard does not list."""
    from optuna_rlnas.child import record_architecture

    record_architecture(trial, architecture)
    trial.set_user_attr("n_params", 383_910)
    trial.set_user_attr("train_time_s", 2.5)
    trial.set_user_attr("val_acc", 0.9410)
    trial.set_user_attr("seed", 12345)


def _build_study(url: str, artifacts: Path) -> None:
    """A study with one trial of the default space, recorded as above, and an artifact."""
    import optuna
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.artifacts import upload_artifact

    from optuna_rlnas.child import CNNSearchSpace
    from optuna_rlnas.child import suggest_architecture

    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(storage=url, study_name=BUILT, sampler=sampler)
    trial = study.ask()
    _record_child(trial, suggest_architecture(trial, CNNSearchSpace()))
    artifacts.mkdir()
    model = artifacts.parent / ARTIFACT
    model.write_text("weights of the child\n")
    upload_artifact(
        artifact_store=FileSystemArtifactStore(str(artifacts)),
        file_path=str(model),
        study_or_trial=trial,
    )
    study.tell(trial, 0.941)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict[str, int]]]:
    """A real short search and a built study in one SQLite file, served by ``rlnas dashboard``
    with its default artifact folder: (base URL, study name -> study id)."""
    folder = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{folder / 'search.db'}"
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    search = subprocess.run(
        [*_rlnas(), "search", "--storage", url, *SEARCH],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert search.returncode == 0, search.stdout + search.stderr
    _build_study(url, folder / "search_artifacts")  # rlnas dashboard's default folder
    port = _free_port()
    log = open(folder / "dashboard.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*_rlnas(), "dashboard", "--storage", url, "--port", str(port)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                studies = json.loads(_get(f"{base}/api/studies"))["study_summaries"]
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        f"rlnas dashboard did not serve: {(folder / 'dashboard.log').read_text()}"
                    )
                time.sleep(0.5)
        yield base, {study["study_name"]: study["study_id"] for study in studies}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def page(browser_type):
    browser = browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser.new_page(viewport=WINDOW)
    finally:
        browser.close()


def _screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RLNAS_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_controller_figures_render(served, page, tmp_path) -> None:
    base, ids = served
    page.goto(f"{base}/dashboard/studies/{ids['rlnas']}")
    for graph_id, title in FIGURES.items():
        plot = page.locator(f'[id="user-defined-plot:{graph_id}"]')
        plot.locator(".main-svg").first.wait_for(timeout=60_000)  # plotly drew it
        assert "js-plotly-plot" in plot.get_attribute("class")
        assert title in plot.locator(".gtitle").text_content()
    # Marks, not just axes: points of the reward figure, cells of the heatmaps, layer boxes.
    reward = page.locator('[id="user-defined-plot:rlnas-reward"]')
    assert reward.locator(".scatterlayer .point").count() >= N_TRIALS
    policy = page.locator('[id="user-defined-plot:rlnas-policy"]')
    assert policy.locator(".hm").count() == 6  # one heatmap per kind of decision of 6 layers
    assert policy.locator(".gtitle").text_content().startswith("Controller: current policy")
    assert policy.locator("text", has_text=re.compile(r"^0\.\d\d$")).count() >= 45
    architecture = page.locator('[id="user-defined-plot:rlnas-best-architecture"]')
    assert architecture.locator(".annotation-text", has_text="classifier").count() == 1
    for graph_id in ("rlnas-reward", "rlnas-entropy"):  # counts of trials and updates
        ticks = page.locator(f'[id="user-defined-plot:{graph_id}"] .xtick text')
        labels = ticks.all_text_contents()
        assert labels and all(re.fullmatch(r"\d+", t) for t in labels), (graph_id, labels)
    width, window = _page_width(page)
    assert width <= window
    page.wait_for_timeout(500)  # let plotly finish its transitions
    folder = _screenshot_dir(tmp_path)
    page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
    boxes = page.evaluate(  # in page coordinates, all at one scroll position
        """ids => ids.map(id => {
            const r = document.getElementById(id).getBoundingClientRect();
            return {x: r.left + window.scrollX, y: r.top + window.scrollY,
                    width: r.width, height: r.height};
        })""",
        [f"user-defined-plot:{graph_id}" for graph_id in FIGURES],
    )
    top = min(b["y"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    left = min(b["x"] for b in boxes)
    right = max(b["x"] + b["width"] for b in boxes)
    clip = {"x": left - 8, "y": top - 8, "width": right - left + 16, "height": bottom - top + 16}
    page.screenshot(path=str(folder / "dashboard.png"), full_page=True, clip=clip)
    assert (folder / "dashboard.png").stat().st_size > 10_000


def test_objective_shows_by_its_name(served, page) -> None:
    base, ids = served
    page.goto(f"{base}/dashboard/studies/{ids['rlnas']}")
    page.get_by_text("validation accuracy").first.wait_for(timeout=60_000)
    assert page.get_by_text("Objective 0").count() == 0


def test_trial_list_shows_the_architecture(served, page, tmp_path) -> None:
    base, ids = served
    (best,) = json.loads(_get(f"{base}/api/studies/{ids['rlnas']}"))["best_trials"]
    page.goto(f"{base}/dashboard/studies/{ids['rlnas']}/trials?numbers={best['number']}")
    attrs = page.get_by_text("User Attributes").first
    attrs.wait_for(timeout=60_000)
    body = page.locator("body")
    for key in ("layer_0", "layer_5", "n_params", "rlnas:log_prob", "rlnas:entropy"):
        assert page.get_by_text(key, exact=False).count() >= 1, key
    assert re.search(r"\d+@\dx\d/s\dx\d relu<img", body.inner_text())  # layer 0, e.g. 36@3x3/s1x1
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "dashboard-trial.png"))


@pytest.mark.parametrize("study", ["rlnas", BUILT])  # the search's, and the one built here
def test_trial_page_is_no_wider_than_the_window(study, served, page, tmp_path) -> None:
    base, ids = served
    page.goto(f"{base}/dashboard/studies/{ids[study]}/trials?numbers=0")
    page.get_by_text("User Attributes").first.wait_for(timeout=60_000)
    page.get_by_text("layer_5").first.wait_for(timeout=60_000)  # the attributes are drawn
    page.wait_for_timeout(500)
    width, window = _page_width(page)
    page.screenshot(path=str(tmp_path / "trial.png"), full_page=True)
    assert width <= window, f"the trial page is {width} px wide in a {window} px window"


def test_trial_artifact_is_listed_and_served(served, page) -> None:
    base, ids = served
    page.goto(f"{base}/dashboard/studies/{ids[BUILT]}/trials?numbers=0")
    page.get_by_text("Artifacts").first.wait_for(timeout=60_000)
    page.get_by_text(ARTIFACT).first.wait_for(timeout=60_000)
    study = json.loads(_get(f"{base}/api/studies/{ids[BUILT]}"))
    (trial,) = study["trials"]
    (artifact,) = trial["artifacts"]
    assert artifact["filename"] == ARTIFACT
    url = f"{base}/artifacts/{ids[BUILT]}/{trial['trial_id']}/{artifact['artifact_id']}"
    assert _get(url) == b"weights of the child\n"
