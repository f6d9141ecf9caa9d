"""gunicorn.conf.py moves long-lived objects out of the garbage collector's sight."""

from __future__ import annotations

import gc
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def _load_conf():
    """Loaded as gunicorn does. It sets PROMETHEUS_MULTIPROC_DIR when unset: the callers run
    it with one already set (monkeypatch), so this process's environment stays as it was."""
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def metrics_dir(monkeypatch, tmp_path):
    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


def test_a_given_metrics_directory_is_used_and_kept(metrics_dir):
    conf = _load_conf()
    assert metrics_dir.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(metrics_dir)
    conf.on_exit(SimpleNamespace(reexec_pid=0))
    assert metrics_dir.is_dir()  # not gunicorn's to remove


def test_a_dead_workers_live_gauges_leave_the_sums(metrics_dir):
    conf = _load_conf()
    dead, alive = metrics_dir / "gauge_livesum_4242.db", metrics_dir / "gauge_livesum_4343.db"
    counter = metrics_dir / "counter_4242.db"
    for path in (dead, alive, counter):
        path.write_bytes(b"")
    conf.child_exit(server=None, worker=SimpleNamespace(pid=4242))
    assert not dead.exists()
    assert alive.exists() and counter.exists()  # counters stay: totals never go down


def test_a_worker_freezes_what_the_app_built_and_again_once_warm():
    conf = _load_conf()
    gc.unfreeze()
    try:
        conf.post_worker_init(worker=None)
        after_start = gc.get_freeze_count()
        assert after_start > 0
        warm_up = [object() for _ in range(10)] + [[] for _ in range(1000)]  # caches filled by requests
        # (frozen objects that die leave the count, so it can only be compared one way)
        for _ in range(conf.WARM_AFTER_REQUESTS - 1):
            conf.post_request(None, None, None, None)
        before_warm = gc.get_freeze_count()
        assert before_warm <= after_start  # not yet
        conf.post_request(None, None, None, None)
        warm = gc.get_freeze_count()
        assert warm >= before_warm + 1000
        later = [[] for _ in range(1000)]  # per-request garbage stays with the collector
        for _ in range(conf.WARM_AFTER_REQUESTS):
            conf.post_request(None, None, None, None)
        assert gc.get_freeze_count() <= warm
        assert len(warm_up) + len(later) == 2010
    finally:
        gc.unfreeze()
