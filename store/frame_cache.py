"""Parsed dataset frames by version, shared by the threads of one process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis

from analysis.dataset_meta import DatasetMeta
from common import memory
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
        """The stored dataset `name` (its current version)."""
        return self._frame(dataset_store.load_meta(client, name), lambda: dataset_store.load(client, name))

    def get_version(self, client: redis.Redis, name: str, version: str) -> tuple[DatasetMeta, pd.DataFrame]:
        """Dataset `name` as it was in `version`, which an analysis was accepted on: the stored dataset, or
        the copy a replace kept for it (store.dataset_store.load_version); raises VersionGone without it."""
        meta = dataset_store.load_version_meta(client, name, version)
        if meta is None:
            meta, _ = dataset_store.load_version(client, name, version)  # raises VersionGone
        return self._frame(meta, lambda: dataset_store.load_version(client, name, version))

    def _frame(self, meta: DatasetMeta, load: Callable[[], tuple[DatasetMeta, bytes | bytearray]]
               ) -> tuple[DatasetMeta, pd.DataFrame]:
        """`meta` and its version's cached frame, or the frame (and the meta read with it) that `load` reads."""
        from analysis import columnar  # pandas, pyarrow: imported on first use, so a fresh web process answers fast

        with self._lock:
            frame = self._frames.get(meta.version)
            if frame is not None:
                self._frames.move_to_end(meta.version)
                return meta, frame
        meta, data = load()
        # a column at a time: a 103 MB frame of 100,000 rows grew the web by 108 MB so, 242 MB decoded whole
        frame = columnar.frame_of_stored(meta, data, by_column=True)
        del data
        memory.release()  # the decode's transient
        with self._lock:
            self._frames[meta.version] = frame
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return meta, frame
