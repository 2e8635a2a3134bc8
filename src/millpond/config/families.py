"""Model families: which scikit-learn estimator each family and task stands for.

A leaf module (names only, scikit-learn imported when a class is asked for), so the
params schema can check a search space without importing training.
"""

from __future__ import annotations

import importlib

ESTIMATORS: dict[tuple[str, str], tuple[str, str]] = {
    ("hist_gradient_boosting", "classification"): ("sklearn.ensemble", "HistGradientBoostingClassifier"),
    ("hist_gradient_boosting", "regression"): ("sklearn.ensemble", "HistGradientBoostingRegressor"),
    ("random_forest", "classification"): ("sklearn.ensemble", "RandomForestClassifier"),
    ("random_forest", "regression"): ("sklearn.ensemble", "RandomForestRegressor"),
    ("logistic_regression", "classification"): ("sklearn.linear_model", "LogisticRegression"),
    ("logistic_regression", "regression"): ("sklearn.linear_model", "Ridge"),
}


def estimator_class(family: str, task: str) -> type:
    """The scikit-learn estimator class of a model family for a task."""
    module, name = ESTIMATORS[(family, task)]
    cls: type = getattr(importlib.import_module(module), name)
    return cls
