"""Training progress that moves: while CatBoost trains a model in a real forking worker, a client polling
/job_status through the real web sees stage `training` with the trees built so far increasing (CatBoost's
own callback writing the job's meta)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from devtools.stack import Stack

ROWS = 30_000  # about 4 s of training on one thread: several reports at four a second at most


def slow_table() -> pd.DataFrame:
    """A target with enough signal that early stopping does not end the training after a few trees."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 12)).round(4)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)])
    frame["y"] = (np.sin(x[:, 0] * 2) + x[:, 1] ** 2 + x[:, 2] * x[:, 3] + rng.normal(0, 0.05, ROWS)).round(4)
    return frame


def test_a_polling_client_sees_the_iteration_increase_while_the_model_trains(stack: Stack) -> None:
    stack.uploaded("slow-training", slow_table())
    job_id = stack.analyze({"dataset": "slow-training", "target_variable": "y", "reuse": False})
    seen: list[dict] = []
    deadline = time.monotonic() + stack.job_timeout
    while time.monotonic() < deadline:
        status, answer, _ = stack.request("GET", f"/job_status/{job_id}?fields=model")
        assert status == 200, answer
        seen.append(answer["progress"])
        if answer["status"] in ("finished", "failed"):
            break
        time.sleep(0.05)
    assert answer["status"] == "finished", answer
    training = [p for p in seen if p["stage"] == "training"]
    iterations = [p["iteration"] for p in training]
    assert len(set(iterations)) >= 2, seen  # it moved while the client watched
    assert iterations == sorted(iterations) and all(1 <= i <= p["iterations"] == 300
                                                    for i, p in zip(iterations, training, strict=True))
    percents = [p["percent"] for p in training]
    assert percents == sorted(percents) and percents[0] >= 10 and percents[-1] <= 50
    # the other stages carry no iteration
    assert all("iteration" not in p for p in seen if p["stage"] != "training")
