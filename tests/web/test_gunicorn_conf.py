"""gunicorn.conf.py moves long-lived objects out of the garbage collector's sight."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def _load_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
