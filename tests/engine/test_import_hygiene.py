"""`import engine` must be cheap and side-effect free: notebooks and workers import it."""

import json
import subprocess
import sys

FORBIDDEN_PREFIXES = ("streamlit", "sqlalchemy", "psycopg", "pymysql", "torch", "boto3", "redis", "dramatiq")


def _import_engine_in_fresh_process() -> dict:
    code = (
        "import sys, threading, json; import engine; "
        "print(json.dumps({'modules': sorted(sys.modules), 'threads': threading.active_count()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_import_engine_loads_no_ui_driver_or_framework_module():
    loaded = _import_engine_in_fresh_process()["modules"]
    offenders = [m for m in loaded if m.split(".")[0] in FORBIDDEN_PREFIXES]
    assert offenders == []


def test_import_engine_starts_no_thread():
    assert _import_engine_in_fresh_process()["threads"] == 1
