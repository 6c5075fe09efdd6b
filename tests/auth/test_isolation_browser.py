"""Isolation in a real browser: a member of acme (tenant A) replays or guesses ids of globex (tenant B).

Globex gets one real object of every type through the services, in the workbench's own
PostgreSQL database (row-level security, app role) and object folder: a dataset version of a
table whose names and values appear nowhere else, a TVAE trained on it for one epoch (a model
version and its training job), rows generated from it (a generated file and its job), their
quality report (and its job), and a share link to that report.

How a page can be handed an object id from the browser, and what each test proves:

- The URL. No page opens an object named in its query (pages pick among the session's own
  workspace listings), but the login keeps a deep link's parameters across the OIDC round trip
  and a future page may read them: every page, opened by ana with every globex id in its query,
  must show exactly what it shows for made-up ids of the same shape, and none of globex's names.
  The same holds through the login (a deep link opened signed out).
- ``?share=``: the share link's row id (or a guessed token) opens nothing, with the very
  message a made-up token gets. (Globex's real *token* opens its one report for anyone: the
  token is the capability, by design; ``test_login_browser`` covers it.)
- A generated file's download: the Generate page's download button hands the browser an id
  that the server turns into the file on request (so does the Quality page's HTML report).
  Ana's session replaying the id that gil's session was given must get what a made-up id
  gets, not globex's rows (``app/download_guard.py``; Streamlit alone served them).
- A viewer (vic, acme) has no way to start a training: the page and the button are absent.

Users and the login: ``tests.auth.oidc_fixtures`` (one login per user for the whole module).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import polars as pl
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from app.pages_registry import PAGE_SPECS
from tests.auth.conftest import REDIS_AUTH_URL
from tests.auth.oidc_fixtures import WAIT_MS, LoginWorkbench, sign_in
from tests.browser.conftest import PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.services]

MEMBER_PAGES = [spec.url_path for spec in PAGE_SPECS]  # a member sees every page
FAST_TRANSFORMER = {"n_modes": 3, "gmm_sample_rows": 200, "gmm_max_iter": 10}
# What globex's objects are called and hold: none of it may reach a page of acme.
DATASET_NAME = "globex-payroll-zq"
MODEL_NAME = "globex-tvae-zq"
COLUMNS = ("globex_salary_band", "globex_badge_code")
VALUES = ("zirconium", "obsidian", "tourmaline")


@dataclass(frozen=True)
class GlobexObjects:
    """Globex's real objects, by type, and the words that would betray any of them."""

    dataset_id: str
    dataset_version_id: str
    model_id: str
    model_version_id: str
    train_job_id: str
    generate_job_id: str
    assess_job_id: str
    generated_id: str
    report_id: str
    share_link_id: str
    share_token: str

    def url_ids(self) -> dict[str, str]:
        """Every object id under the query parameter a page would read it from."""
        return {
            "dataset": self.dataset_id, "dataset_version": self.dataset_version_id, "model": self.model_id,
            "model_version": self.model_version_id, "job": self.train_job_id, "generated": self.generated_id,
            "report": self.report_id, "share_link": self.share_link_id,
        }

    def secrets_seen(self, text: str) -> list[str]:
        """Globex's names, values and ids that occur in ``text``."""
        words = [DATASET_NAME, MODEL_NAME, *COLUMNS, *VALUES, "Globex", "globex", self.share_token,
                 self.train_job_id, self.generate_job_id, self.assess_job_id, *self.url_ids().values()]
        return [word for word in words if word in text]


def made_up_ids(ids: dict[str, str]) -> dict[str, str]:
    """Ids of the same shape (UUIDs) that exist nowhere."""
    return {name: str(uuid.uuid4()) for name in ids}


# --- globex's objects ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def globex(login_workbench: LoginWorkbench) -> Iterator[GlobexObjects]:
    """Globex's objects, made by the real services (and their in-process worker) where the workbench reads."""
    from infra.jobs.queue import stop_embedded_worker
    from tests.app.page_support import _install_worker_environment, clear_caches
    from workers.environment import use_environment

    bench = login_workbench
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"DOPPEL_DATA_DIR": str(bench.data_dir), "DOPPEL_DATABASE_URL": bench.database_url,
                            "DOPPEL_CACHE_URL": REDIS_AUTH_URL, "DOPPEL_JOB_LEASE_S": "4"}.items():
            patch.setenv(name, value)
        clear_caches()
        _install_worker_environment()
        try:
            yield _make_globex_objects()
        finally:
            stop_embedded_worker()
            use_environment(None)
            clear_caches()


def _make_globex_objects() -> GlobexObjects:
    from auth.share_links import create_share_link, list_share_links
    from infra.db import tenant_session
    from infra.records import tenancy
    from infra.records.authz import Actor
    from infra.records.members import grant_at_login
    from infra.usecases import dataset_store, job_requests, model_registry
    from infra.usecases.job_requests import TrainingRequest
    from tests.app.page_support import csv_bytes, wait_for_job

    with tenant_session("globex") as s:
        tenancy.ensure_tenant(s, display_name="Globex", actor="test")
        user = tenancy.ensure_user(s, subject="test|globex-seeder", email="seeder@globex.test")
        grant_at_login(s, user_id=user.id, role="member", reason="test seed")
        actor = Actor(user_id=user.id, label="seeder@globex.test")
    frame = pl.DataFrame({COLUMNS[0]: list(VALUES) * 20, COLUMNS[1]: [f"{VALUES[i % 3]}-{i}" for i in range(60)]})
    stored = dataset_store.store_upload("globex", data=csv_bytes(frame), filename=f"{DATASET_NAME}.csv",
                                        dataset_name=DATASET_NAME, actor=actor)
    train = job_requests.request_training("globex", actor=actor, request=TrainingRequest(
        dataset_version_id=stored.version_id, model="tvae", epochs=1, batch_size=30, model_name=MODEL_NAME,
        transformer=FAST_TRANSFORMER))
    trained = wait_for_job("globex", train.id, actor)
    assert trained.state == "succeeded", trained.error
    model_version_id = trained.result["model_version_id"]
    generate = job_requests.request_generation("globex", model_version_id=model_version_id, n_rows=50, actor=actor,
                                               seed=1, output_format="csv")
    generated = wait_for_job("globex", generate.id, actor)
    assert generated.state == "succeeded", generated.error
    assess = job_requests.request_assessment("globex", generated_dataset_id=generated.result["generated_dataset_id"],
                                             actor=actor)
    assessed = wait_for_job("globex", assess.id, actor)
    assert assessed.state == "succeeded", assessed.error
    model_id = model_registry.get_version("globex", model_version_id=model_version_id, actor=actor).model_id
    with tenant_session("globex") as s:
        token = create_share_link(s, report_id=assessed.result["quality_report_id"], expires_in=timedelta(hours=1),
                                  actor=actor)
        link_id = list_share_links(s, actor=actor)[0].id
    return GlobexObjects(
        dataset_id=stored.dataset_id, dataset_version_id=stored.version_id, model_id=model_id,
        model_version_id=model_version_id, train_job_id=train.id, generate_job_id=generate.id,
        assess_job_id=assess.id, generated_id=generated.result["generated_dataset_id"],
        report_id=assessed.result["quality_report_id"], share_link_id=link_id, share_token=token,
    )


# --- the browser -----------------------------------------------------------------------------


def signed_in_context(browser, bench: LoginWorkbench, sub: str) -> BrowserContext:
    """A browser context (its cookies) in which ``sub`` has signed in once; every page opened in it is theirs."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    sign_in(page, bench, sub)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("role", timeout=WAIT_MS)
    page.close()
    return context


@pytest.fixture(scope="module")
def ana(browser, login_workbench: LoginWorkbench, globex: GlobexObjects) -> Iterator[BrowserContext]:
    """Ana, member of acme, signed in."""
    context = signed_in_context(browser, login_workbench, "ana")
    yield context
    context.close()


def open_pages(context: BrowserContext, *urls: str) -> list[Page]:
    """New tabs on ``urls`` (loaded side by side), each recording its problems (``page.problems``), once their
    scripts have finished."""
    pages = []
    for url in urls:
        page = context.new_page()
        problems = PageProblems()
        page.on("pageerror", lambda err, problems=problems: problems.page_errors.append(str(err)))
        page.on("dialog", lambda dialog, problems=problems: (problems.dialogs.append(dialog.message), dialog.dismiss()))
        page.problems = problems
        page.goto(url, wait_until="commit")
        pages.append(page)
    for page in pages:
        settle(page)
    return pages


SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  const main = document.querySelector('[data-testid=stMain]');
  if (!app || !main || app.getAttribute('data-test-script-state') !== 'notRunning' || !main.querySelector('h1')) {
    window.__settled = null;
    return false;
  }
  const text = main.innerText, now = Date.now();
  if (!window.__settled || window.__settled.text !== text) {
    window.__settled = {text, since: now};
    return false;
  }
  return now - window.__settled.since >= 600;
}"""


def settle(page: Page) -> None:
    """Wait until the app's script has run to its end (``stApp`` says notRunning) and the main block has been
    drawn and stayed the same for 0.6 s (Streamlit draws some elements after the run ends)."""
    page.wait_for_function(SETTLED_JS, timeout=WAIT_MS, polling=100)


def main_text(page: Page) -> str:
    """What the page's main block says, with the reference of an unexpected error blanked out."""
    text = page.get_by_test_id("stMain").inner_text(timeout=WAIT_MS)
    return re.sub(r"reference [0-9a-f]{8}", "reference <ref>", text)


# --- ids in the URL --------------------------------------------------------------------------


@pytest.mark.parametrize("page_path", MEMBER_PAGES)
def test_globex_ids_in_the_url_show_what_made_up_ids_show(ana, login_workbench, globex, page_path):
    real, fake = globex.url_ids(), made_up_ids(globex.url_ids())

    replayed, guessed = open_pages(ana, f"{login_workbench.url}/{page_path}?{urlencode(real)}",
                                   f"{login_workbench.url}/{page_path}?{urlencode(fake)}")

    assert main_text(replayed) == main_text(guessed)
    assert globex.secrets_seen(replayed.content()) == []
    assert replayed.problems.page_errors == guessed.problems.page_errors == []
    replayed.close()
    guessed.close()


def test_a_deep_link_with_globex_ids_lands_after_login_like_made_up_ids(browser, ana, login_workbench, globex):
    bench = login_workbench
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # ana again, signed out
    page = context.new_page()
    sign_in(page, bench, "ana", path=f"/quality?{urlencode(globex.url_ids())}")
    expect(page.get_by_role("heading", name="Quality", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    assert "report=" in page.url  # the parameters did survive the login
    (guessed,) = open_pages(ana, f"{bench.url}/quality?{urlencode(made_up_ids(globex.url_ids()))}")

    assert main_text(page) == main_text(guessed)
    assert globex.secrets_seen(main_text(page)) == []
    context.close()
    guessed.close()


# --- share links -----------------------------------------------------------------------------


def test_globex_share_link_id_as_a_token_opens_what_a_made_up_token_opens(ana, login_workbench, globex):
    guess = secrets.token_urlsafe(32)  # the shape of a real token
    replayed, guessed = open_pages(ana, f"{login_workbench.url}/?share={globex.share_link_id}",
                                   f"{login_workbench.url}/?share={guess}")
    assert main_text(replayed) == main_text(guessed)
    assert "This share link is not valid." in main_text(replayed)
    assert globex.secrets_seen(replayed.content().replace(globex.share_link_id, "")) == []
    assert replayed.problems.page_errors == guessed.problems.page_errors == []
    replayed.close()
    guessed.close()


# --- generated files ------------------------------------------------------------------------


def forward_msgs(frames: list) -> list:
    """The Streamlit ``ForwardMsg``s among websocket frames (binary protobuf)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msgs = []
    for frame in frames:
        if isinstance(frame, bytes):
            msg = ForwardMsg()
            msg.ParseFromString(frame)
            msgs.append(msg)
    return msgs


def download_ids(frames: list) -> list[str]:
    """The ids of deferred downloads that the server handed to a browser, oldest first."""
    return [m.delta.new_element.download_button.deferred_file_id for m in forward_msgs(frames)
            if m.WhichOneof("type") == "delta" and m.delta.new_element.WhichOneof("type") == "download_button"
            and m.delta.new_element.download_button.deferred_file_id]


class StreamlitSocket:
    """A page's websocket to the workbench, routed through Playwright: it can send the server any request the
    page's own code could send, and it records what the server answers."""

    def __init__(self, page: Page) -> None:
        self.received: list = []
        self._server = None
        page.route_web_socket(re.compile(r".*/_stcore/stream$"), self._route)

    def _route(self, ws) -> None:  # noqa: ANN001 - Playwright's WebSocketRoute
        server = ws.connect_to_server()

        def to_page(message) -> None:  # noqa: ANN001
            self.received.append(message)
            ws.send(message)

        server.on_message(to_page)
        self._server = server

    @property
    def session_id(self) -> str:
        return next(m.new_session.initialize.session_id for m in forward_msgs(self.received)
                    if m.WhichOneof("type") == "new_session")

    def request_download(self, page: Page, file_id: str) -> tuple[str, str]:
        """Ask for deferred download ``file_id`` in this page's session: (URL given, error), as the server answered."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        request_id = uuid.uuid4().hex
        msg = BackMsg()
        msg.backend_operation_request.request_id = request_id
        msg.backend_operation_request.session_id = self.session_id
        msg.backend_operation_request.deferred_file.file_id = file_id
        self._server.send(msg.SerializeToString())
        for _ in range(300):
            for answer in forward_msgs(self.received):
                response = answer.backend_operation_response
                if answer.WhichOneof("type") == "backend_operation_response" and response.request_id == request_id:
                    return response.deferred_file.url, response.error_msg
            page.wait_for_timeout(100)
        raise AssertionError(f"no answer to the download request {request_id}")


@dataclass(frozen=True)
class GilsDownload:
    """Gil's tab on the Generate page after generating rows: its download button and the id it was handed."""

    page: Page
    button: object
    file_id: str

    def works(self) -> bool:
        """Whether a click still gives gil his rows."""
        with self.page.expect_download(timeout=WAIT_MS) as caught:
            self.button.click()
        return COLUMNS[0].encode() in caught.value.path().read_bytes()


@pytest.fixture(scope="module")
def gils_download(browser, login_workbench: LoginWorkbench, globex: GlobexObjects) -> Iterator[GilsDownload]:
    """Gil (globex) generates rows on the Generate page; his tab stays open (its download id stays live)."""
    context = signed_in_context(browser, login_workbench, "gil")
    page = context.new_page()
    frames: list = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.goto(f"{login_workbench.url}/generate")
    settle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    button = page.get_by_role("button", name=re.compile(r"^Download \("))
    expect(button).to_be_visible(timeout=WAIT_MS)
    download = GilsDownload(page, button, download_ids(frames)[-1])
    assert download.works()
    yield download
    context.close()


def test_a_download_id_of_globex_replayed_in_anas_session_gets_what_a_made_up_id_gets(ana, login_workbench,
                                                                                     gils_download):
    page = ana.new_page()
    socket = StreamlitSocket(page)
    page.goto(f"{login_workbench.url}/generate")
    settle(page)

    replayed = socket.request_download(page, gils_download.file_id)
    guessed = socket.request_download(page, uuid.uuid4().hex)

    assert replayed == guessed == ("", "Failed to generate file for download")  # no URL, the same words
    assert gils_download.works()  # the id was live all along: refused for ana's session only
    page.close()


# --- roles -----------------------------------------------------------------------------------


def test_a_viewer_has_no_training_page_and_no_start_button(browser, login_workbench):
    context = signed_in_context(browser, login_workbench, "vic")
    try:
        (page,) = open_pages(context, f"{login_workbench.url}/train")
        expect(page.get_by_test_id("stSidebar")).to_contain_text("role viewer", timeout=WAIT_MS)
        expect(page.get_by_role("heading", name="Quality", exact=True)).to_be_visible()  # where a viewer lands
        expect(page.get_by_role("heading", name="Train", exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name="Start training")).to_have_count(0)
        expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train")).to_have_count(0)
        assert page.problems.page_errors == []
    finally:
        context.close()


# --- the log, after all of the above ---------------------------------------------------------


def test_the_workbench_log_holds_no_login_secret_and_no_share_token(login_workbench, globex):
    import tomllib

    from auth.providers import secret_values

    bench = login_workbench
    auth = tomllib.loads((bench.data_dir / "secrets.toml").read_text())["auth"]
    log = (bench.data_dir / "workbench.log").read_text()
    assert "started the in-process job worker" in log  # the log of the workbench that served the tests above
    kept_out = [*secret_values(auth), bench.valid_token, bench.expired_token, bench.revoked_token, globex.share_token]
    assert len(kept_out) >= 7
    assert [secret for secret in kept_out if secret in log] == []
