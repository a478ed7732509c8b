"""Python client of shap-microservice.

    from shap_client import Client
    client = Client("http://localhost:10000", api_key="...")
    job = client.analyze("Mortgage_Approvals", demographic_filters=["Income > 50000"])
    result = job.result(timeout=300)      # long-polls, then pandas objects
    shap.plots.beeswarm(job.explanation())
"""

from shap_client.client import Client
from shap_client.errors import (
    Conflict,
    InvalidRequest,
    JobCanceled,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ShapServiceError,
    TooManyRequests,
    Unauthorized,
    WaitTimeout,
)
from shap_client.job import Job
from shap_client.questions import Comparison, ScenarioOutcome
from shap_client.result import AnalysisResult

__all__ = ["AnalysisResult", "Client", "Comparison", "Conflict", "InvalidRequest", "Job", "JobCanceled", "JobFailed",
           "NotFound", "PayloadTooLarge", "ScenarioOutcome", "ServiceUnavailable", "ShapServiceError",
           "TooManyRequests", "Unauthorized", "WaitTimeout"]
