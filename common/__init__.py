"""Code shared by the web process and the workers.

Nothing in this package may import catboost or shap: the web process imports it.
"""

__version__ = "1.0.0"
