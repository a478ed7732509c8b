"""Parsed dataset frames by version, shared by the threads of one process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import redis

from analysis.dataset_meta import DatasetMeta
from store import dataset_store

if TYPE_CHECKING:
    import pandas as pd


class FrameCache:
    """Parsed frames by dataset version (a version never changes, so entries never go stale)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._frames: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, client: redis.Redis, name: str) -> tuple[DatasetMeta, pd.DataFrame]:
        from analysis import columnar  # pandas, pyarrow: imported on first use, so a fresh web process answers fast

        meta = dataset_store.load_meta(client, name)
        with self._lock:
            frame = self._frames.get(meta.version)
            if frame is not None:
                self._frames.move_to_end(meta.version)
                return meta, frame
        meta, data = dataset_store.load(client, name)
        frame = columnar.frame_of_stored(meta, data)
        with self._lock:
            self._frames[meta.version] = frame
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return meta, frame
