"""pytest hooks for the Python suite (`make test-python`).

Under CI=true a skipped test is a failure: the framework tests (torch, TensorFlow, Keras, JAX,
Grain) must really run there, and a missing module must not quietly turn them into skips."""

import os

import pytest


def _ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if _ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = "skipped under CI=true, which counts as a failure: %s" % reason
