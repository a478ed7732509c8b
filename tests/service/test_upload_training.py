"""An upload with a default_target trains that target's model in the background, as a normal RQ job, so the
first analysis is warm (real web, Redis and forking workers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common import keys
from devtools.stack import Stack


def table(rows: int = 300, seed: int = 5) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)).round(3), columns=["a", "b", "c", "d"])
    frame["y"] = (frame["a"] * 2 - frame["b"] + rng.normal(0, 0.1, rows)).round(3)
    return frame.to_csv(index=False).encode()


def trainings(stack: Stack) -> int:
    return int(stack.redis().get(keys.MODEL_TRAININGS) or 0)


def test_upload_with_default_target_trains_it_in_a_visible_job(stack: Stack) -> None:
    """PUT answers a training_job_id; the job finishes in /job_status with the model, and the first
    analysis reuses that model instead of training."""
    before = trainings(stack)
    answer = stack.uploaded("warm-up", table(), "?default_target=y")
    job = stack.wait_job(answer["training_job_id"])
    assert job["status"] == "finished", job
    trained = job["result"]
    assert (trained["trained"], trained["target"], trained["dataset_version"]) == (True, "y", answer["version"])
    assert trained["model"]["task"] == "regression" and trained["model"]["metrics"]["r2"] > 0.9
    assert trainings(stack) == before + 1
    # its result is stored whole, without the byte index an analysis records, and ?fields= still cuts it
    status, cut, _ = stack.request("GET", f"/job_status/{answer['training_job_id']}?fields=trained,target")
    assert status == 200 and cut["result"] == {"trained": True, "target": "y"}, cut
    analysis = stack.wait_job(stack.analyze({"dataset": "warm-up", "reuse": False}))
    assert analysis["result"]["model"]["id"] == trained["model"]["id"]
    assert trainings(stack) == before + 1


def test_upload_without_default_target_enqueues_nothing(stack: Stack) -> None:
    """Without a default_target there is nothing to warm: training_job_id is null."""
    assert stack.uploaded("cold", table(seed=6))["training_job_id"] is None


def test_a_replaced_dataset_is_not_trained_for_its_old_version(stack: Stack) -> None:
    """Two quick uploads: each training job trains only the version it was enqueued for while current."""
    first = stack.uploaded("twice", table(seed=7), "?default_target=y")
    second = stack.uploaded("twice", table(seed=8), "?default_target=y")
    done = [stack.wait_job(a["training_job_id"]) for a in (first, second)]
    assert all(d["status"] == "finished" for d in done)
    assert done[1]["result"]["trained"] is True
    if not done[0]["result"]["trained"]:  # it ran after the replacement
        assert "was replaced" in done[0]["result"]["warnings"][0]
