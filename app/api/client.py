"""A Python client of Doppel's REST API (``/api/v1``): httpx only, typed, no Streamlit or torch.

>>> from app.api.client import Doppel                                   # doctest: +SKIP
>>> d = Doppel("http://127.0.0.1:8501", key="dpk_...")                  # doctest: +SKIP
>>> started = d.train("adult.csv", model="argn")                         # doctest: +SKIP
>>> job = d.wait(started.job)                                            # doctest: +SKIP
>>> rows = d.sample(started.model_id, n=1000, conditions="age > 65")     # doctest: +SKIP
>>> for row in d.stream(started.model_id, batch_size=1): ...            # doctest: +SKIP

Every error answer (a problem document, RFC 9457) is raised as ``DoppelApiError`` with the
server's status, title and detail (the message the engine or use case gave); a 429 carries
``retry_after_s``. The client imports nothing of the server: it is safe in a test harness or a
pipeline image that has only ``httpx`` and ``polars``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

API_PREFIX = "/api/v1"
NDJSON = "application/x-ndjson"
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
MAX_WAIT_PER_POLL_S = 30  # the server's long-poll limit


class DoppelApiError(Exception):
    """An error answer of the API: ``status``, ``title`` and ``detail`` of its problem document."""

    def __init__(self, status: int, title: str, detail: str, *, errors: list[Any] | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.retry_after_s = retry_after_s


class JobFailedError(DoppelApiError):
    """A job the client waited for ended failed or cancelled; ``job`` is its last state."""

    def __init__(self, job: Job) -> None:
        super().__init__(409, f"job {job.status}", job.error or job.message or f"job {job.id} {job.status}")
        self.job = job


@dataclass(frozen=True)
class Job:
    """A job's state as the API shows it; ``result`` holds model_version_id, output_id or report_id."""

    id: str
    kind: str
    status: str
    progress: float | None = None
    message: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Job:
        return cls(id=str(body["id"]), kind=str(body.get("kind", "")), status=str(body.get("status", "")),
                   progress=body.get("progress"), message=body.get("message"), result=dict(body.get("result") or {}),
                   error=body.get("error"))


@dataclass(frozen=True)
class TrainingStarted:
    """A training job and the model it trains (its version id is in the job's result once done)."""

    job: Job
    model_id: str


def api_base(url: str) -> str:
    """The API's base address: ``url`` as given when it ends in ``/api/v1``, else with it appended."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"server URL {url!r} must start with http:// or https://")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def _raise_for_problem(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    retry = response.headers.get("retry-after")
    raise DoppelApiError(response.status_code, str(body.get("title") or response.reason_phrase),
                         str(body.get("detail") or response.text[:500] or response.reason_phrase),
                         errors=body.get("errors"), retry_after_s=float(retry) if retry else None)


class _Resource:
    def __init__(self, owner: Doppel) -> None:
        self._d = owner


class Datasets(_Resource):
    """``/datasets``: upload a file, list, one dataset, its versions and a version's profile."""

    def upload(self, path: str | Path, *, name: str | None = None) -> dict[str, Any]:
        """Upload a table file as a new dataset (or a new version of ``name``); ``{"dataset", "version"}``."""
        file = Path(path)
        with file.open("rb") as handle:
            return self._d._json("POST", "/datasets", files={"file": (file.name, handle)},
                                 data={"name": name or file.stem})

    def list(self) -> list[dict[str, Any]]:
        return self._d._json("GET", "/datasets")["items"]

    def get(self, dataset_id: str) -> dict[str, Any]:
        return self._d._json("GET", f"/datasets/{dataset_id}")

    def versions(self, dataset_id: str) -> list[dict[str, Any]]:
        return self._d._json("GET", f"/datasets/{dataset_id}/versions")["items"]

    def profile(self, dataset_id: str, version_id: str) -> dict[str, Any]:
        return self._d._json("GET", f"/datasets/{dataset_id}/versions/{version_id}/profile")


class Models(_Resource):
    """``/models``: list, one model, its versions, withdraw a version."""

    def list(self) -> list[dict[str, Any]]:
        return self._d._json("GET", "/models")["items"]

    def get(self, model_id: str) -> dict[str, Any]:
        return self._d._json("GET", f"/models/{model_id}")

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        return self._d._json("GET", f"/models/{model_id}/versions")["items"]

    def withdraw(self, model_id: str, version_id: str, *, reason: str | None = None) -> dict[str, Any]:
        return self._d._json("POST", f"/models/{model_id}/versions/{version_id}/withdraw", json={"reason": reason})


class Keys(_Resource):
    """``/keys``: the caller's API keys (never their secrets, except once on creation)."""

    def list(self) -> list[dict[str, Any]]:
        return self._d._json("GET", "/keys")["items"]

    def create(self, name: str, *, scopes: list[str] | tuple[str, ...] = ("read",)) -> dict[str, Any]:
        """A new key; its ``secret`` (the token) is in this answer only."""
        return self._d._json("POST", "/keys", json={"name": name, "scopes": list(scopes)})

    def revoke(self, key_id: str) -> None:
        self._d._request("DELETE", f"/keys/{key_id}")


class Doppel:
    """A connection to one Doppel server as one API key (``key=None``: local mode, loopback only)."""

    def __init__(self, url: str, key: str | None = None, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = api_base(url)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self.datasets = Datasets(self)
        self.models = Models(self)
        self.keys = Keys(self)

    # -- plumbing ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        _raise_for_problem(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Doppel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the journey ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def train(self, path_or_version: str | Path, *, model: str = "auto", epsilon: float | None = None,
              delta: float | None = None, epochs: int | None = None, seed: int = 0, name: str | None = None,
              params: Mapping[str, Any] | None = None) -> TrainingStarted:
        """Start training on a local file (uploaded first) or on a dataset version id already on the server."""
        version_id = str(path_or_version)
        if isinstance(path_or_version, Path) or Path(version_id).is_file():
            version_id = self.datasets.upload(path_or_version)["version"]["id"]
        body: dict[str, Any] = {"dataset_version_id": version_id, "model": model, "seed": seed,
                                "params": dict(params or {})}
        if epochs is not None:
            body["epochs"] = epochs
        if name is not None:
            body["name"] = name
        if epsilon is not None:
            body["privacy"] = {"epsilon": epsilon, **({"delta": delta} if delta is not None else {})}
        answer = self._json("POST", "/models", json=body)
        return TrainingStarted(job=Job.from_json(answer["job"]), model_id=str(answer["model_id"]))

    def job(self, job: Job | str, *, wait_s: float | None = None) -> Job:
        """A job's state now (``wait_s``: long-poll until it changes, at most 30 s)."""
        params = {"wait": min(wait_s, MAX_WAIT_PER_POLL_S)} if wait_s else None
        return Job.from_json(self._json("GET", f"/jobs/{_job_id(job)}", params=params))

    def jobs(self, *, kind: str | None = None, status: str | None = None) -> list[Job]:
        params = {k: v for k, v in (("kind", kind), ("status", status)) if v}
        return [Job.from_json(j) for j in self._json("GET", "/jobs", params=params)["items"]]

    def cancel(self, job: Job | str) -> Job:
        return Job.from_json(self._json("POST", f"/jobs/{_job_id(job)}/cancel"))

    def log(self, job: Job | str) -> list[str]:
        return list(self._json("GET", f"/jobs/{_job_id(job)}/log")["lines"])

    def wait(self, job: Job | str, *, timeout: float = 600.0, raise_on_failure: bool = True) -> Job:
        """Long-poll until the job finishes; ``JobFailedError`` if it failed (unless told not to).

        ``TimeoutError`` when it is still running after ``timeout`` seconds (the job goes on).
        """
        deadline = time.monotonic() + timeout
        state = job if isinstance(job, Job) else self.job(job)
        while not state.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {state.id} is still {state.status} after {timeout:g} s")
            state = self.job(state, wait_s=max(1.0, min(left, MAX_WAIT_PER_POLL_S)))
        if raise_on_failure and state.status != "succeeded":
            raise JobFailedError(state)
        return state

    def sample(self, model: str, *, n: int, conditions: str | Mapping[str, Any] | None = None,
               seed: int | None = None, version: str | None = None) -> pl.DataFrame:
        """``n`` rows drawn now from the model's serving version (or ``version``), as a polars frame."""
        body: dict[str, Any] = {"n": n}
        for name, value in (("conditions", conditions), ("seed", seed), ("version", version)):
            if value is not None:
                body[name] = dict(value) if isinstance(value, Mapping) else value
        response = self._request("POST", f"/models/{model}/samples", json=body, headers={"Accept": NDJSON})
        return pl.read_ndjson(io.BytesIO(response.content)) if response.content.strip() else pl.DataFrame()

    def stream(self, model: str, *, batch_size: int = 1, seed: int | None = None,
               conditions: str | Mapping[str, Any] | None = None, version: str | None = None
               ) -> Iterator[dict[str, Any]]:
        """Rows one by one from the model's endless NDJSON stream; closing the iterator ends the stream."""
        params: dict[str, Any] = {"batch_size": batch_size}
        if seed is not None:
            params["seed"] = seed
        if conditions is not None:
            params["conditions"] = json.dumps(dict(conditions)) if isinstance(conditions, Mapping) else conditions
        if version is not None:
            params["version"] = version
        with self._http.stream("GET", f"/models/{model}/stream", params=params, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_problem(response)
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)

    def generate(self, model_version_id: str, *, n: int, format: str = "parquet",
                 conditions: str | Mapping[str, Any] | None = None, seed: int | None = None) -> Job:
        """Start a generation job writing ``n`` rows to the store; its result's ``output_id`` downloads them."""
        body: dict[str, Any] = {"model_version_id": model_version_id, "n": n, "format": format}
        if conditions is not None:
            body["conditions"] = dict(conditions) if isinstance(conditions, Mapping) else conditions
        if seed is not None:
            body["seed"] = seed
        return Job.from_json(self._json("POST", "/generations", json=body)["job"])

    def download(self, output_id: str, path: str | Path) -> Path:
        """Save a generated dataset's file at ``path``."""
        target = Path(path)
        target.write_bytes(self._request("GET", f"/generations/{output_id}/download").content)
        return target

    def assess(self, output_id: str, *, model_version_id: str | None = None) -> Job:
        """Start a quality report of a generated dataset; its result's ``report_id`` names the report."""
        body: dict[str, Any] = {"output_id": output_id}
        if model_version_id is not None:
            body["model_version_id"] = model_version_id
        return Job.from_json(self._json("POST", "/reports", json=body)["job"])

    def report(self, report_id: str) -> dict[str, Any]:
        """The full report (``passed``, scores, gates, recommendations)."""
        return self._json("GET", f"/reports/{report_id}")

    def report_html(self, report_id: str) -> str:
        return self._request("GET", f"/reports/{report_id}.html").text


def _job_id(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else str(job)


__all__ = ["Doppel", "DoppelApiError", "Job", "JobFailedError", "TrainingStarted", "api_base"]
