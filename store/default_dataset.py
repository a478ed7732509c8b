"""The built-in `default` dataset: a deterministic synthetic area-level mortgage table (docs/getting-started.md,
The built-in `default` dataset).

Targets (noise is Normal(0, sigma), values rounded and clipped at 0):
    Mortgage_Approvals    = 20 + 0.0012*Income + 0.35*(Credit_Score_Avg - 680) + 0.4*Homeownership_Pct + N(0, 6)
    Mortgage_Applications = 10 + 0.003*Population + 1.5*(45 - Age) + 0.0002*Income + N(0, 5)
So the true drivers of Mortgage_Approvals are Income, then Credit_Score_Avg, then Homeownership_Pct;
of Mortgage_Applications, Population, then Age, then Income. Every other column is independent noise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import redis

from analysis import columnar, datasets
from common import keys
from common.errors import UnknownDataset
from common.settings import Settings
from store import dataset_store
from store.frame_cache import FrameCache

log = logging.getLogger(__name__)

NAME = "default"
ROWS = 2000
SEED = 20261123
TRUE_DRIVERS = {
    "Mortgage_Approvals": ["Income", "Credit_Score_Avg", "Homeownership_Pct"],
    "Mortgage_Applications": ["Population", "Age", "Income"],
}
OPTIONS = datasets.DatasetOptions(
    id_columns=("zip_code",),
    exclude_columns=("latitude", "longitude", "Mortgage_Approvals", "Mortgage_Applications"),
    default_target="Mortgage_Approvals",
)
_PROVINCES = {  # code: (share, latitude, longitude)
    "ON": (0.38, 44.0, -79.5), "QC": (0.22, 46.8, -71.2), "BC": (0.14, 49.3, -123.1),
    "AB": (0.12, 51.0, -114.1), "MB": (0.04, 49.9, -97.1), "SK": (0.03, 52.1, -106.7),
    "NS": (0.03, 44.6, -63.6), "NB": (0.02, 45.9, -66.6), "NL": (0.01, 47.6, -52.7), "PE": (0.01, 46.2, -63.1),
}
# Noise columns: name -> (mean, std, low, high)
_NOISE = {
    "Unemployment_Rate": (6.5, 2.0, 1.0, 20.0), "Avg_Home_Price": (550000, 150000, 150000, 2000000),
    "Median_Rent": (1600, 350, 600, 4000), "Debt_To_Income": (1.7, 0.4, 0.5, 4.0),
    "Household_Size": (2.6, 0.4, 1.2, 5.0), "Pct_University": (30, 10, 5, 80),
    "Pct_Immigrants": (22, 12, 0, 70), "Pct_Seniors": (18, 5, 3, 45), "Pct_Children": (17, 4, 3, 35),
    "Housing_Starts": (120, 60, 0, 600), "Avg_Commute_Min": (27, 8, 5, 80), "Crime_Rate": (45, 20, 2, 200),
    "School_Score": (6.5, 1.5, 1, 10), "Broadband_Pct": (88, 8, 40, 100), "Vacancy_Rate": (3.5, 1.5, 0.2, 15),
    "Avg_Property_Tax": (4200, 1300, 800, 15000), "Employment_Growth": (1.2, 1.5, -6, 8),
    "Pct_Self_Employed": (11, 4, 2, 35), "Avg_Car_Ownership": (1.5, 0.35, 0.3, 3.5),
    "Distance_To_City_Km": (35, 25, 0, 300), "Bank_Branches": (6, 3, 0, 30),
    "Avg_Credit_Utilization": (32, 9, 5, 90), "Median_Home_Age": (38, 15, 1, 120), "Walk_Score": (55, 20, 0, 100),
}


def generate(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = list(_PROVINCES)
    shares = np.array([_PROVINCES[c][0] for c in codes])
    province = rng.choice(codes, size=rows, p=shares / shares.sum())
    frame = pd.DataFrame({"zip_code": [f"Z{i:05d}" for i in range(1, rows + 1)]})
    frame["latitude"] = np.round([_PROVINCES[p][1] for p in province] + rng.normal(0, 0.8, rows), 4)
    frame["longitude"] = np.round([_PROVINCES[p][2] for p in province] + rng.normal(0, 1.2, rows), 4)
    frame["Province"] = province
    frame["Urban_Rural"] = rng.choice(["Urban", "Suburban", "Rural"], size=rows, p=[0.45, 0.35, 0.2])
    frame["Income"] = np.round(np.clip(rng.lognormal(np.log(72000), 0.4, rows), 30000, 200000), 0)
    frame["Age"] = np.round(np.clip(rng.normal(40, 7, rows), 22, 70), 1)
    frame["Population"] = np.round(np.clip(rng.lognormal(np.log(18000), 0.6, rows), 500, 150000), 0)
    frame["Homeownership_Pct"] = np.round(100 * rng.beta(5, 3, rows), 1)
    frame["Credit_Score_Avg"] = np.round(np.clip(rng.normal(680, 40, rows), 520, 850), 0)
    for name, (mean, std, low, high) in _NOISE.items():
        frame[name] = np.round(np.clip(rng.normal(mean, std, rows), low, high), 2)
    approvals = (20 + 0.0012 * frame["Income"] + 0.35 * (frame["Credit_Score_Avg"] - 680)
                 + 0.4 * frame["Homeownership_Pct"] + rng.normal(0, 6, rows))
    applications = (10 + 0.003 * frame["Population"] + 1.5 * (45 - frame["Age"]) + 0.0002 * frame["Income"]
                    + rng.normal(0, 5, rows))
    frame["Mortgage_Approvals"] = np.clip(np.round(approvals), 0, None)
    frame["Mortgage_Applications"] = np.clip(np.round(applications), 0, None)
    return frame


def csv_bytes(settings: Settings) -> tuple[bytes, datasets.DatasetOptions]:
    """The default dataset's CSV: DEFAULT_DATASET_PATH when set, else the generated table."""
    if settings.default_dataset_path:
        return Path(settings.default_dataset_path).read_bytes(), datasets.DatasetOptions()
    return datasets.to_csv_bytes(generate()), OPTIONS


def ensure_loaded(client: redis.Redis, settings: Settings) -> str:
    """Load `default` into Redis unless this exact version is there; one process does it, under a lock.

    A `default` a client stored (PUT /datasets/default) is kept, unless DEFAULT_DATASET_PATH is set:
    then the operator's file wins, and the log says it replaced the client's table."""
    data, options = csv_bytes(settings)
    meta, parsed = datasets.describe(data, options, name=NAME, max_rows=max(settings.max_rows, ROWS))
    origin = "DEFAULT_DATASET_PATH" if settings.default_dataset_path else "built-in"
    with client.lock(keys.dataset_lock(NAME), timeout=dataset_store.LOCK_TIMEOUT, blocking_timeout=60):
        current = client.get(keys.dataset_meta(NAME))
        stored = dataset_store.load_meta(client, NAME) if current is not None else None
        if stored is not None and stored.version == meta.version:
            return meta.version
        if stored is not None and stored.origin == dataset_store.ORIGIN_UPLOAD:
            if not settings.default_dataset_path:
                log.info("dataset %r version %s was stored by a client; start-up keeps it", NAME, stored.version)
                return stored.version
            log.warning("DEFAULT_DATASET_PATH %s replaces the dataset %r a client stored (version %s)",
                        settings.default_dataset_path, NAME, stored.version)
        dataset_store.store(client, meta.model_copy(update={"origin": origin}), columnar.to_arrow(parsed))
        log.info("loaded dataset %r version %s (%d rows) from the %s table", NAME, meta.version, meta.rows,
                 origin)
    return meta.version


def frame(client: redis.Redis, frames: FrameCache, name: str, settings: Settings):
    """Metadata and parsed frame of a dataset; `default` is loaded on first use if nobody has yet."""
    try:
        return frames.get(client, name)
    except UnknownDataset:
        if name != NAME:
            raise
        ensure_loaded(client, settings)
        return frames.get(client, name)
