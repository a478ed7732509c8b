"""A deterministic census-like wide table (no download): about 1,700 areas x 134 numeric columns.

Built from five latent traits per area (urbanity, affluence, age, family size, diversity), so the columns
come in correlated groups as in real area-level data: population counts with their matching percentages
(age bands, household sizes, origins, languages, education, occupations, commute modes, income brackets,
dwelling types, tenure), incomes, ages and housing figures. A few percent of the values are missing in the
income and housing-value columns (suppressed, as statistical offices do for small areas); well under 1 %
in every other feature column. The id column `zip` holds zero-padded five-digit strings, which a CSV
reader takes for numbers: declare it with `id_columns` (`options()` and `upload_query()` do).

Targets (no missing values):
    Default_Rate  non-linear in a handful of columns: a logistic step in Unemployment_Rate amplified by
                  Pct_Shelter_Cost_30plus, a hinge in log Median_Household_Income, a U in Median_Age,
                  plus N(0, 0.15).
    Turnout_Pct   broadly linear in education, tenure, age and low income, plus N(0, 2).
Turnout_Pct_Official is Turnout_Pct plus N(0, 0.3): nearly a copy of a target, the leak a real table
often carries; `options()` excludes it (and the other target) from a target's features.

Usage: `python -m devtools.wide_table [--out FILE] [--rows N] [--seed S]` writes the CSV (stdout by default).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.datasets import DatasetOptions
from devtools.service_client import ServiceClient

ROWS = 1700
SEED = 20261201
ID_COLUMN = "zip"
TARGETS = ("Default_Rate", "Turnout_Pct")
LEAK_COLUMN = "Turnout_Pct_Official"
TRUE_DRIVERS = {
    "Default_Rate": ["Unemployment_Rate", "Pct_Shelter_Cost_30plus", "Median_Household_Income", "Median_Age"],
}
# Columns whose values are suppressed in a few percent of the areas; the rest miss well under 1 %.
SPARSE_COLUMNS = ("Median_Household_Income", "Avg_Household_Income", "Median_Individual_Income",
                  "Median_Dwelling_Value", "Avg_Monthly_Rent", "Gini_Index")


@dataclass(frozen=True)
class CountGroup:
    """Population (or household) counts split into parts; each part gets a count and a percentage column."""

    prefix: str
    parts: tuple[str, ...]
    base: tuple[float, ...]  # log-share of each part in an average area
    # loading of each part's log-share on the latent traits (urban, affluence, age, family, diversity)
    loadings: tuple[tuple[float, float, float, float, float], ...]


_Z = (0.0, 0.0, 0.0, 0.0, 0.0)
GROUPS = (
    CountGroup("Age", ("0_14", "15_24", "25_34", "35_44", "45_54", "55_64", "65_74", "75_84", "85_plus"),
               (0.0, -0.2, 0.0, 0.0, 0.05, 0.0, -0.3, -0.9, -2.0),
               ((0, 0, -.4, .5, 0), (.2, 0, -.3, .1, .1), (.4, .1, -.4, -.2, .1), (.1, .1, -.2, .2, 0),
                _Z, (-.1, 0, .3, -.1, 0), (-.2, 0, .5, -.2, 0), (-.1, 0, .6, -.2, 0), (0, 0, .7, -.2, 0))),
    CountGroup("Household_Size", ("1", "2", "3", "4", "5_plus"), (-0.3, 0.0, -0.5, -0.6, -1.3),
               ((.5, 0, .2, -.6, 0), (0, .1, .3, -.2, 0), _Z, (-.1, .1, -.2, .4, 0), (-.2, -.2, -.2, .7, .3))),
    CountGroup("Origin", ("Local", "European", "South_Asian", "East_Asian", "African", "Latin_American"),
               (1.5, 0.0, -1.0, -1.0, -1.6, -1.8),
               ((-.3, 0, .2, 0, -.8), (0, .2, .2, 0, .2), (.3, 0, -.3, .2, .9), (.4, .2, -.2, 0, .9),
                (.3, -.3, -.3, .2, .8), (.3, -.2, -.3, .1, .8))),
    CountGroup("Language", ("English", "French", "Other"), (1.2, 0.0, -0.8),
               ((0, 0, 0, 0, -.3), _Z, (.3, 0, -.2, .1, 1.0))),
    CountGroup("Education", ("No_Certificate", "High_School", "Trades", "College", "Bachelor", "Graduate"),
               (-0.6, 0.0, -0.7, -0.2, -0.3, -1.2),
               ((-.1, -.6, .3, .1, 0), (0, -.2, .1, 0, 0), (-.3, -.2, 0, .1, -.2), (0, 0, 0, 0, 0),
                (.3, .5, -.1, 0, .1), (.4, .7, 0, -.1, .1))),
    CountGroup("Occupation", ("Management", "Business", "Science", "Health", "Sales_Service", "Trades_Transport"),
               (-1.0, -0.3, -0.7, -0.6, 0.2, 0.0),
               ((.1, .5, 0, 0, 0), (.2, .2, 0, 0, 0), (.3, .5, 0, 0, .1), (0, .1, .1, 0, 0), (.1, -.3, -.1, 0, .1),
                (-.4, -.3, 0, .1, -.1))),
    CountGroup("Commute", ("Car", "Transit", "Walk", "Bicycle"), (1.5, 0.0, -0.9, -2.0),
               ((-.8, 0, .1, .2, 0), (1.2, 0, -.1, -.1, .3), (1.0, .1, 0, -.2, 0), (.8, .3, -.3, -.1, 0))),
    CountGroup("Income_Bracket", ("Under_20k", "20_40k", "40_60k", "60_100k", "100_150k", "Over_150k"),
               (-1.3, -0.6, -0.4, 0.0, -0.4, -0.9),
               ((.2, -.9, .2, -.2, .1), (.1, -.5, .2, -.1, .1), (0, -.2, 0, 0, 0), _Z, (-.1, .4, -.1, .1, 0),
                (0, .9, 0, 0, 0))),
    CountGroup("Dwelling", ("Single_Detached", "Semi_Detached", "Row_House", "Apartment_Low", "Apartment_High"),
               (0.8, -1.0, -0.8, -0.2, -0.9),
               ((-1.0, .2, .2, .3, 0), (0, 0, 0, 0, 0), (.3, 0, -.2, .2, 0), (.6, -.3, 0, -.3, .2),
                (1.4, 0, .1, -.4, .2))),
    CountGroup("Tenure", ("Owner", "Renter"), (0.6, 0.0), ((-.3, .4, .3, .2, 0), (.4, -.4, -.2, -.1, .2))),
)
_HOUSEHOLD_GROUPS = {"Household_Size", "Income_Bracket", "Dwelling", "Tenure"}


def _latents(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Correlated latent traits: affluent areas lean urban, older areas have smaller households."""
    cov = np.array([[1.0, 0.3, -0.2, -0.3, 0.5],
                    [0.3, 1.0, 0.2, 0.0, 0.0],
                    [-0.2, 0.2, 1.0, -0.5, -0.2],
                    [-0.3, 0.0, -0.5, 1.0, 0.2],
                    [0.5, 0.0, -0.2, 0.2, 1.0]])
    return rng.multivariate_normal(np.zeros(5), cov, size=rows, method="cholesky")


def _split(rng: np.random.Generator, totals: np.ndarray, group: CountGroup, latent: np.ndarray) -> np.ndarray:
    logits = np.array(group.base) + latent @ np.array(group.loadings).T + rng.normal(0, 0.15, (len(totals),
                                                                                               len(group.parts)))
    shares = np.exp(logits)
    shares /= shares.sum(axis=1, keepdims=True)
    return rng.multinomial(totals, shares)


def _counts(rng: np.random.Generator, latent: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    population = np.round(np.exp(rng.normal(np.log(3500), 0.45, len(latent)) + 0.2 * latent[:, 0])).astype(int)
    size = 2.6 + 0.45 * latent[:, 3] - 0.15 * latent[:, 2] + rng.normal(0, 0.1, len(latent))
    households = np.maximum(np.round(population / np.clip(size, 1.4, 4.5)), 20).astype(int)
    columns["Total_Population"] = population.astype(float)
    columns["Total_Households"] = households.astype(float)
    columns["Avg_Household_Size"] = np.round(population / households, 2)
    area = np.exp(rng.normal(np.log(3.0), 1.0, len(latent)) - 1.6 * latent[:, 0])
    columns["Land_Area_Km2"] = np.round(area, 3)
    columns["Population_Density"] = np.round(population / area, 1)
    for group in GROUPS:
        totals = households if group.prefix in _HOUSEHOLD_GROUPS else population
        counts = _split(rng, totals, group, latent)
        for i, part in enumerate(group.parts):
            columns[f"{group.prefix}_{part}"] = counts[:, i].astype(float)
            columns[f"Pct_{group.prefix}_{part}"] = np.round(100 * counts[:, i] / totals, 1)


def _levels(rng: np.random.Generator, latent: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Incomes, ages, labour and housing figures, each driven by the traits plus its own noise."""
    n = len(latent)
    urban, rich, old, family, diverse = latent.T

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0, sd, n)

    median_income = np.exp(np.log(78000) + 0.32 * rich + 0.05 * family - 0.08 * old + noise(0.08))
    columns["Median_Household_Income"] = np.round(median_income, -2)
    columns["Avg_Household_Income"] = np.round(median_income * np.exp(0.18 + 0.06 * rich + noise(0.04)), -2)
    columns["Median_Individual_Income"] = np.round(median_income / (1.7 + 0.2 * family + noise(0.05)), -2)
    columns["Median_After_Tax_Income"] = np.round(columns["Median_Household_Income"] * (0.84 - 0.02 * rich), -2)
    columns["Gini_Index"] = np.round(np.clip(0.36 + 0.03 * urban + 0.02 * rich + noise(0.02), 0.2, 0.6), 3)
    columns["Pct_Low_Income"] = np.round(np.clip(12 - 5 * rich + 2 * urban + 1.5 * diverse + noise(2.0), 0.5, 60), 1)
    median_age = np.clip(41 + 5.5 * old - 2.5 * family - 1.5 * urban + noise(1.5), 22, 70)
    columns["Median_Age"] = np.round(median_age, 1)
    columns["Average_Age"] = np.round(median_age + 0.8 + 0.3 * old + noise(0.5), 1)
    participation = np.clip(65 - 6 * old + 3 * rich + noise(2.5), 35, 85)
    unemployment = np.clip(np.exp(np.log(6.5) - 0.3 * rich + 0.1 * diverse + noise(0.25)), 1, 30)
    columns["Participation_Rate"] = np.round(participation, 1)
    columns["Unemployment_Rate"] = np.round(unemployment, 1)
    columns["Employment_Rate"] = np.round(participation * (1 - unemployment / 100), 1)
    value = np.exp(np.log(520000) + 0.35 * rich + 0.45 * urban + noise(0.12))
    columns["Median_Dwelling_Value"] = np.round(value, -3)
    columns["Avg_Monthly_Owner_Cost"] = np.round(value * 0.0031 + noise(120), 0)
    columns["Avg_Monthly_Rent"] = np.round(np.exp(np.log(1450) + 0.15 * rich + 0.2 * urban + noise(0.08)), 0)
    columns["Pct_Shelter_Cost_30plus"] = np.round(np.clip(22 + 5 * urban - 6 * rich + noise(3.5), 2, 70), 1)
    columns["Pct_Major_Repairs"] = np.round(np.clip(6.5 - 1.2 * rich + 0.8 * old + noise(1.2), 0.3, 30), 1)
    columns["Median_Year_Built"] = np.round(np.clip(1982 - 9 * old + 4 * urban * rich + noise(8), 1900, 2024))
    columns["Avg_Rooms"] = np.round(np.clip(6.2 + 0.7 * family - 0.9 * urban + 0.3 * rich + noise(0.3), 2, 12), 1)
    columns["Avg_Commute_Minutes"] = np.round(np.clip(26 - 3 * urban + 2 * family + noise(4), 8, 80), 1)
    columns["Pct_Movers_1yr"] = np.round(np.clip(13 + 3 * urban - 2 * old - 1.5 * rich + noise(2.5), 1, 45), 1)
    columns["Pct_Single_Parent"] = np.round(np.clip(16 - 3 * rich + 2 * family + urban + noise(2.5), 2, 45), 1)
    columns["Pct_Seniors_Alone"] = np.round(np.clip(25 + 4 * urban + 2 * old - 2 * family + noise(3), 3, 60), 1)


def _targets(rng: np.random.Generator, c: dict[str, np.ndarray]) -> None:
    n = len(c["Median_Age"])
    step = 1 / (1 + np.exp(-(c["Unemployment_Rate"] - 8.0) / 1.0))
    hinge = np.maximum(0.0, 11.35 - np.log(c["Median_Household_Income"])) ** 1.5
    default = (1.2 + 2.5 * step * (1 + c["Pct_Shelter_Cost_30plus"] / 25) + 3.0 * hinge
               + 0.004 * (c["Median_Age"] - 38) ** 2 + rng.normal(0, 0.15, n))
    c["Default_Rate"] = np.round(np.clip(default, 0, None), 2)
    degree = c["Pct_Education_Bachelor"] + c["Pct_Education_Graduate"]
    turnout = (42 + 0.35 * degree + 0.12 * (c["Pct_Tenure_Owner"] - 60) + 0.3 * (c["Median_Age"] - 40)
               - 0.25 * c["Pct_Low_Income"] + rng.normal(0, 2.0, n))
    c["Turnout_Pct"] = np.round(np.clip(turnout, 5, 95), 1)
    c[LEAK_COLUMN] = np.round(c["Turnout_Pct"] + rng.normal(0, 0.3, n), 1)


def _punch_holes(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Missing values: a few percent in SPARSE_COLUMNS, 0-0.5 % elsewhere; never in the id or targets."""
    keep = {ID_COLUMN, *TARGETS, LEAK_COLUMN}
    for name in frame.columns:
        if name in keep:
            continue
        rate = rng.uniform(0.02, 0.05) if name in SPARSE_COLUMNS else rng.uniform(0.0, 0.005)
        holes = rng.random(len(frame)) < rate
        frame.loc[holes, name] = np.nan


def generate(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    """The table: `zip`, then the feature columns, then the two targets and the near-copy of one."""
    rng = np.random.default_rng(seed)
    latent = _latents(rng, rows)
    columns: dict[str, np.ndarray] = {}
    _counts(rng, latent, columns)
    _levels(rng, latent, columns)
    _targets(rng, columns)
    zips = rng.choice(np.arange(1000, 99999), size=rows, replace=False)
    frame = pd.DataFrame({ID_COLUMN: [f"{z:05d}" for z in zips], **columns})
    _punch_holes(rng, frame)
    return frame


def options(target: str = TARGETS[0]) -> DatasetOptions:
    """Upload options: the zip is the id, the other target and the leak are excluded, `target` is default."""
    excluded = tuple(c for c in (*TARGETS, LEAK_COLUMN) if c != target)
    return DatasetOptions(id_columns=(ID_COLUMN,), exclude_columns=excluded, default_target=target)


def upload_query(target: str = TARGETS[0]) -> str:
    """`options(target)` as the PUT /datasets query string."""
    chosen = options(target)
    return (f"id_columns={','.join(chosen.id_columns)}&exclude_columns={','.join(chosen.exclude_columns)}"
            f"&default_target={chosen.default_target}")


def csv_bytes(rows: int = ROWS, seed: int = SEED) -> bytes:
    return generate(rows, seed).to_csv(index=False).encode()


def upload(service: ServiceClient, name: str = "wide", *, target: str = TARGETS[0], trained: bool = True,
           data: bytes | None = None, timeout: float = 120) -> None:
    """PUT the table (or `data`, a CSV of it) as dataset `name`, with `target`'s other targets and the leak
    excluded. `target` is its default_target, trained at upload; with `trained` False no model is trained
    until an analysis asks for one. `timeout`: seconds for the upload (85 MB of CSV at 100,000 rows)."""
    query = upload_query(target)
    if not trained:
        query = query.split("&default_target=")[0]
    status, answer, _ = service.put(f"/datasets/{name}?{query}", raw=data or csv_bytes(),
                                    headers={"Content-Type": "text/csv"}, timeout=timeout)
    assert status in (200, 201), answer


# A target whose model trains for long enough to be caught in the act: Default_Rate in ten bands of equal
# size. A multiclass model grows one tree per class at each of its 300 iterations (early stopping does not
# end it before), so on the table's 1,700 rows CatBoost fits for 12 s on a busy 2-core workstation (about
# 6 s on CI's faster cores) and the job is in that fit 0.1 s after it starts. A regression target on 12,000
# rows, used before, fitted in under 2 s: a JOB_TIMEOUT of 1 s or a lock test's 3 TTLs had little margin.
SLOW_TARGET = "Default_Band"
SLOW_CLASSES = 10


def slow_csv_bytes() -> bytes:
    """The table with SLOW_TARGET added (`band0` ... `band9`, lowest Default_Rate first)."""
    frame = generate()
    bands = pd.qcut(frame[TARGETS[0]], SLOW_CLASSES, labels=[f"band{i}" for i in range(SLOW_CLASSES)])
    frame[SLOW_TARGET] = bands.astype(str)
    return frame.to_csv(index=False).encode()


def slow_analysis(service: ServiceClient, name: str = "wide") -> dict[str, str | bool]:
    """Upload the table with SLOW_TARGET, untrained, and return the body of an analysis that must train its
    model first: a service started with JOB_TIMEOUT=1 fails it as a JobTimeout, while CatBoost fits, every
    time."""
    upload(service, name, target=SLOW_TARGET, trained=False, data=slow_csv_bytes())
    return {"dataset": name, "target_variable": SLOW_TARGET, "reuse": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.wide_table", description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="file to write (default: stdout)")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    data = csv_bytes(args.rows, args.seed)
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
