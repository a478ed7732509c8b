"""Semicolon and tab CSVs with decimal commas, uploaded to the real web (curl's way and the Python client's)
and analysed by real forking workers as numbers; an upload the service cannot decide names the parameter to
send; the parameters are in the OpenAPI document."""

from __future__ import annotations

import numpy as np
import pandas as pd
from shap_client import Client

from devtools.stack import Stack


def frame(rows: int = 200, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    made = pd.DataFrame({"Region": rng.choice(["Nord", "Süd"], rows), "Einkommen": rng.normal(50, 9, rows).round(2),
                         "Alter": rng.integers(20, 70, rows)})
    made["Ausgaben"] = (made["Einkommen"] * 0.4 + made["Alter"] * 0.1 + rng.normal(0, 1, rows)).round(2)
    return made


def test_a_semicolon_csv_with_decimal_commas_uploads_and_analyses_as_numbers(stack: Stack) -> None:
    data = frame().to_csv(index=False, sep=";", decimal=",").encode()
    answer = stack.uploaded("eu-semicolon", data)
    assert answer["csv"] == {"delimiter": ";", "decimal": ","}
    types = {c["name"]: c["type"] for c in answer["columns"]}
    assert types == {"Region": "categorical", "Einkommen": "numeric", "Alter": "numeric", "Ausgaben": "numeric"}
    done = stack.wait_job(stack.analyze({"dataset": "eu-semicolon", "target_variable": "Ausgaben"}))
    assert done["status"] == "finished", done
    assert done["result"]["model"]["task"] == "regression"
    assert {f["feature"] for f in done["result"]["feature_importance"]} == {"Region", "Einkommen", "Alter"}


def test_a_tab_csv_through_the_python_client_and_an_override(stack: Stack, tmp_path) -> None:
    path = tmp_path / "export.tsv"
    path.write_bytes(frame().to_csv(index=False, sep="\t", decimal=",").encode())
    with Client(stack.base, stack.env.get("API_KEY")) as client:
        _tab_uploads(client, path)


def _tab_uploads(client: Client, path) -> None:
    assert client.upload_dataset("eu-tab", path)["csv"] == {"delimiter": "\t", "decimal": ","}
    # named by the client, the decimal mark wins over detection: "48,5" is then text
    read = client.upload_dataset("eu-tab-point", path, delimiter="\t", decimal=".")
    assert read["csv"] == {"delimiter": "\t", "decimal": "."}
    assert {c["name"]: c["type"] for c in read["columns"]}["Einkommen"] != "numeric"


def test_an_ambiguous_csv_names_the_parameter_and_stores_nothing(stack: Stack) -> None:
    data = b"a,b;c,d\n" + b"1,2;3,4\n" * 30
    status, answer, _ = stack.upload_csv("ambiguous", data)
    assert status == 400 and answer["code"] == "invalid_dataset", answer
    assert "delimiter=" in answer["error"] and answer["details"]["parameter"] == "delimiter"
    status, _, _ = stack.request("GET", "/metadata?dataset=ambiguous")
    assert status == 400  # unknown_dataset: nothing was stored
    assert stack.uploaded("ambiguous", data, "?delimiter=semicolon")["csv"] == {"delimiter": ";", "decimal": ","}


def test_unsupported_parameters_are_refused_before_the_upload_is_read(stack: Stack) -> None:
    status, answer, _ = stack.upload_csv("pipes", b"a|b\n1|2\n", "?delimiter=%7C")
    assert status == 400 and "delimiter" in answer["error"], answer


def test_the_parameters_are_declared(stack: Stack) -> None:
    status, document, _ = stack.request("GET", "/openapi.json")
    assert status == 200
    operation = document["paths"]["/datasets/{name}"]["put"]
    assert {"delimiter", "decimal"} <= {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert "csv" in document["components"]["schemas"]["DatasetStored"]["properties"]
