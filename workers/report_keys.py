"""Where an assessment job stores its report (a table's or a schema's): the JSON document and the HTML page."""

from __future__ import annotations


def report_keys(generated_dataset_id: str, job_id: str) -> tuple[str, str]:
    """``(reports/<generated id>/<job id>.json, ... .html)``."""
    base = f"reports/{generated_dataset_id}/{job_id}"
    return f"{base}.json", f"{base}.html"


__all__ = ["report_keys"]
