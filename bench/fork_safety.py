"""Fork safety of the worker parent's CatBoost warm-up (bench/RESULTS.md, section 7). Not run by `make bench`.

A parent warms CatBoost one way, then forks children that each do what a work horse does first (a Pool of
2,000 rows with a categorical column, ShapValues, predict) after a random 0-200 ms pause; a child that
has not finished after 15 s is counted as hung and killed. Modes:
  default-threads  the old warm-up (fit, ShapValues, predict on 40 rows; the Pool with CatBoost's default
                   thread count, which starts oneTBB worker threads)
  single-thread    explain.run.warm_up, as the worker runs it now
  none             no warm-up
Run several side by side to load the machine the way the test suite does:

    .venv/bin/python bench/fork_safety.py --mode default-threads --forks 400
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import time

import numpy as np
import pandas as pd
from benchlib import emit, machine

ROWS = 2000
HANG_SECONDS = 15


def default_threads_warm_up() -> None:
    from catboost import CatBoostRegressor, Pool

    frame = pd.DataFrame({"x": np.arange(40.0), "c": np.array(["a", "b", "c", "d"])[np.arange(40) % 4]})
    pool = Pool(frame, np.arange(40.0), cat_features=["c"])
    model = CatBoostRegressor(iterations=4, depth=2, thread_count=1, verbose=False, allow_writing_files=False)
    model.fit(pool)
    model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    model.predict(pool, prediction_type="RawFormulaVal", thread_count=1)


def horse(model, frame: pd.DataFrame) -> None:
    from catboost import Pool

    pool = Pool(frame, cat_features=["c"])
    model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    model.predict(pool, prediction_type="RawFormulaVal", thread_count=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["default-threads", "single-thread", "none"], required=True)
    parser.add_argument("--forks", type=int, default=400)
    args = parser.parse_args()

    from catboost import CatBoostRegressor, Pool

    from explain.run import warm_up

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=ROWS), "b": rng.normal(size=ROWS),
                          "c": np.array(["w", "x", "y", "z"])[np.arange(ROWS) % 4]})
    model = CatBoostRegressor(iterations=100, depth=4, thread_count=1, verbose=False, allow_writing_files=False)
    pid = os.fork()  # train in a child: the parent itself must stay as the mode says
    if pid == 0:
        model.fit(Pool(frame, frame["a"] * 2 + frame["b"], cat_features=["c"], thread_count=1))
        model.save_model("/tmp/fork_safety_model.cbm")
        os._exit(0)
    os.waitpid(pid, 0)
    model.load_model("/tmp/fork_safety_model.cbm")
    warm = {"default-threads": default_threads_warm_up, "single-thread": warm_up, "none": lambda: None}[args.mode]

    hung = 0
    for index in range(args.forks):
        if index % 10 == 0:
            warm()
        time.sleep(random.choice([0, 0.001, 0.01, 0.05, 0.2]))
        pid = os.fork()
        if pid == 0:
            horse(model, frame)
            os._exit(0)
        deadline = time.monotonic() + HANG_SECONDS
        while os.waitpid(pid, os.WNOHANG)[0] == 0:
            if time.monotonic() > deadline:
                hung += 1
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    emit("fork_safety", {"mode": args.mode, "forks": args.forks, "hung": hung,
                         "parent_threads": len(os.listdir("/proc/self/task")), "machine": machine()})


if __name__ == "__main__":
    main()
