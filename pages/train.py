"""Train: pick a dataset version and a model, set the few settings that matter, start a training job.

"auto" says what it will train and why, from the rule ``engine.train`` follows (the privacy
setting and the version's columns included). CTGAN's batch is shown as the multiple of its pac
it trains with. Privacy: differential privacy on or off, epsilon and delta explained, the
dataset's remaining budget and how many runs of the chosen size it still allows. Protections (rare
categories merged below k rows, extremes clipped at the k-th most extreme value) apply either way. The job is
queued through ``infra.usecases.job_requests``; its progress shows here and on Jobs.

A schema dataset version (several related tables) shows its tables and the keys training
uses instead, and only what ``engine.train_tables`` takes: the model of the root tables, the
seed, a time limit shared by the tables, the device, the model name and differential privacy
with a root entity as its unit (no epochs, target column or conditions). Its job is queued
through ``infra.usecases.training``. A table of histories (its roles saved on the Profile page)
shows its roles and takes the same few settings, with an entity as the unit of privacy.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import Acting, acting, attempt, link_to
from app.components.job_status import follow_job
from app.components.literal_text import markdown_literal
from app.components.pickers import pick_dataset_version, remember, remembered
from infra.usecases import job_requests, privacy_views, training, training_plan
from infra.usecases.dataset_store import VersionDetail, VersionSummary
from infra.usecases.job_requests import Protections, TrainingRequest
from infra.usecases.sequence_roles import sequence_roles
from infra.usecases.training import SCHEMA_KIND, SEQUENCE_KIND

MODELS = {
    "auto": "Let the profile choose",
    "ctgan": "CTGAN — a conditional GAN for mixed tables",
    "tvae": "TVAE — a variational autoencoder, fast and steady",
    "argn": "ARGN — an autoregressive network, column by column",
    "mst": "MST — marginals, for differential privacy at small epsilon",
}
LAST_JOB_KEY = "train_last_job_id"


def _batch_fits_model() -> None:
    """On a change of model: the batch shown becomes the one that model trains with (CTGAN: a multiple of pac)."""
    if "train_batch" in st.session_state:
        st.session_state["train_batch"] = training_plan.batch_for(st.session_state["train_model"],
                                                                  st.session_state["train_batch"])


def _train_table(who: Acting, detail: VersionDetail) -> None:
    """The single-table form: model, epochs and batch, advanced settings, privacy, protections; starts the job."""
    version = detail.summary
    suggested = training_plan.auto_choice(detail.profile, epsilon=None).settings
    if detail.profile.pii and not version.edits.removed:
        flagged = ", ".join(sorted({f.column for f in detail.profile.pii}))
        st.warning(f"This version still holds columns that look like personal data: {markdown_literal(flagged)}. "
                   "Mark them on the Profile page to remove them before training.", icon=":material/person_alert:")

    st.subheader("Model", anchor=False)
    model = st.selectbox("Model", list(MODELS), format_func=lambda m: f"{m} — {MODELS[m]}" if m != "auto" else MODELS[m],
                         key="train_model", on_change=_batch_fits_model)
    auto_hint = st.empty()  # "Auto picks ...", filled in once the privacy setting below is known
    cells = st.columns(3)
    epochs = cells[0].number_input("Epochs", min_value=1, max_value=10_000, value=int(suggested.get("epochs") or 100),
                                   step=1, key="train_epochs",
                                   help="Passes over the data. More learns more, and takes longer.")
    batch_size = cells[1].number_input("Batch size", min_value=1, max_value=100_000,
                                       value=training_plan.batch_for(model, int(suggested.get("batch_size") or 500)),
                                       step=50, key="train_batch", help="Rows per training step.")
    seed = cells[2].number_input("Seed", min_value=0, value=0, step=1, key="train_seed",
                                 help="The same seed, data and settings train the same model.")

    dp_defaults = training_plan.privacy_defaults(n_rows=version.n_rows)
    # The line a new model joins is named for what trains ("auto" resolved), from the privacy widgets' last values.
    planned_epsilon = st.session_state.get("train_epsilon", dp_defaults.run_epsilon) \
        if st.session_state.get("train_dp") else None
    planned = training_plan.auto_choice(detail.profile, epsilon=planned_epsilon,
                                        delta=st.session_state.get("train_delta", dp_defaults.run_delta)).model \
        if model == "auto" else model

    with st.expander("Advanced"):
        a = st.columns(3)
        device = a[0].selectbox("Device", ["auto", "cpu", "cuda"], key="train_device",
                                help="auto: a GPU when the worker has one.")
        model_name = a[1].text_input("Model name", key="train_model_name",
                                     placeholder=f"{version.dataset_name} ({planned})",
                                     help="Training again under the same name adds a version to that model.")
        max_minutes = a[2].number_input("Time cap (minutes)", min_value=0, value=0, step=5, key="train_minutes",
                                        help="Stop after the epoch that crosses this time; 0 = no cap.")
        b = st.columns(3)
        validation_share = b[0].number_input("Validation share", min_value=0.0, max_value=0.45, value=0.1, step=0.05,
                                             key="train_validation", help="Rows held out to stop early; 0 = none.")
        patience = b[1].number_input("Early-stopping patience (epochs)", min_value=0, value=0, step=1,
                                     key="train_patience", help="0: the model's default.")
        n_modes = b[2].number_input("Modes per numeric column", min_value=1, max_value=30, value=10, step=1,
                                    key="train_modes", help="Gaussian-mixture modes of CTGAN/TVAE's numeric encoding; "
                                    "fewer fit faster.")

    st.subheader("Privacy", anchor=False)
    private = st.toggle("Train with differential privacy", key="train_dp")
    epsilon: float | None = None
    delta = dp_defaults.run_delta
    budget = attempt("reading the privacy budget", privacy_views.remaining_budget, who.tenant,
                     dataset_id=version.dataset_id, actor=who.actor)
    if private:
        st.markdown(
            "Differential privacy bounds what the model can reveal about any one row: **epsilon** is how much one "
            "person's presence may change what the model learns (smaller is more private; 1 is strong, 10 is weak), "
            "**delta** the small chance that the bound does not hold (keep it well below 1 / rows). The run's "
            "epsilon and delta are charged to the dataset's budget; generating from the model afterwards costs nothing.")
        p = st.columns(2)
        epsilon = p[0].number_input("Epsilon", min_value=0.01, max_value=100.0, value=dp_defaults.run_epsilon, step=0.5,
                                    key="train_epsilon")
        delta = p[1].number_input("Delta", min_value=1e-12, max_value=1e-2, value=dp_defaults.run_delta, step=1e-7,
                                  format="%.1e", key="train_delta")
        if budget is None:
            st.warning("This dataset has no privacy budget yet, so differentially private training is refused. An owner "
                       "or admin sets one on the Privacy page.", icon=":material/shield:")
            link_to("privacy", "Go to Privacy", icon=":material/shield_lock:")
        else:
            st.caption(f"Remaining budget of {markdown_literal(version.dataset_name)}: {markdown_literal(budget.describe())}.")
            runs = training_plan.runs_left(budget, epsilon=epsilon, delta=delta)
            st.caption(markdown_literal(runs[:1].upper() + runs[1:] + "."))
            if epsilon > budget.epsilon_remaining:
                st.warning(f"Epsilon {epsilon:g} is more than the {budget.epsilon_remaining:.4g} left.",
                           icon=":material/warning:")
    elif budget is not None:
        st.caption(f"Privacy budget of {markdown_literal(version.dataset_name)}: {markdown_literal(budget.describe())}.")

    if model == "auto":
        choice = training_plan.auto_choice(detail.profile, epsilon=epsilon, delta=delta)
        auto_hint.info(f"**Auto picks {markdown_literal(choice.model)}.** {markdown_literal(choice.reason)}",
                       icon=":material/lightbulb:")
    elif model == "ctgan" and training_plan.batch_for(model, int(batch_size)) != int(batch_size):
        auto_hint.caption(f"CTGAN trains in batches of {training_plan.batch_for(model, int(batch_size))} rows, a multiple "
                          "of the rows its critic judges together; the run's notes will say so.")

    st.subheader("Protections", anchor=False)
    st.caption("They apply with or without differential privacy: rare categories identify people, and so do extremes.")
    q = st.columns(2)
    rare_k = q[0].number_input("Merge categories seen on fewer rows than k", min_value=1, max_value=1000, value=5,
                               step=1, key="train_rare_k")
    cap = q[1].toggle("Clip extreme values: none beyond the k-th most extreme on each side", value=True, key="train_cap",
                      help="Every released extreme is then shared by at least k training rows.")

    if who.allows("member") and st.button("Start training", type="primary", icon=":material/play_arrow:",
                                          key="train_start"):
        advanced: dict[str, object] = {"validation_share": float(validation_share)}
        if patience:
            advanced["patience"] = int(patience)
        if max_minutes:
            advanced["max_training_time_s"] = float(max_minutes) * 60.0
        request = TrainingRequest(
            dataset_version_id=version.id, model=model, epochs=int(epochs), batch_size=int(batch_size), seed=int(seed),
            device=device, model_name=model_name.strip() or None, epsilon=epsilon, delta=float(delta),
            protections=Protections(rare_category_k=int(rare_k), cap_extremes=bool(cap)),
            advanced=advanced, transformer={"n_modes": int(n_modes)},
        )
        job = attempt("starting the training", job_requests.request_training, who.tenant, request=request,
                      actor=who.actor)
        if job is not None:
            st.session_state[LAST_JOB_KEY] = job.id
            remember("job", job.id)


def _train_schema(who: Acting, detail: VersionDetail) -> None:
    """The schema form: its tables and keys, the model of the root tables, seed, time limit, privacy; starts the job.

    No epochs, batch, target column or conditions: ``engine.train_tables`` takes none of them.
    The job goes straight to ``training.submit_training``, whose checks (role, policy, budget,
    quotas, what a schema cannot take) give the messages shown here.
    """
    version = detail.summary
    plan = training_plan.schema_plan(version.source)
    st.subheader("Tables", anchor=False)
    st.dataframe(pl.DataFrame({
        "table": [t.name for t in plan.tables],
        "rows": [t.rows for t in plan.tables],
        "columns": [t.columns for t in plan.tables],
        "primary key": [t.primary_key or "" for t in plan.tables],
        "learned as": ["root: the chosen model" if t.is_root else f"child of {', '.join(t.parents)}: ARGN"
                       for t in plan.tables],
    }, schema_overrides={"rows": pl.Int64, "columns": pl.Int64}), hide_index=True, key="train_tables_list")
    keys_text = "\n".join(f"- `{fk}`" for fk in plan.foreign_keys) or "- none: the tables are trained apart"
    st.markdown(f"**Keys training uses**\n{keys_text}")
    st.caption("Each root table is learned by the model chosen below, with the number of children of each row; each "
               "child table by ARGN, given its parent row, so every generated foreign key points at a generated "
               "parent. A seeded holdout of whole root rows, with all their children, is set aside first.")

    st.subheader("Model", anchor=False)
    roots = ", ".join(plan.roots) or "none"
    model = st.selectbox(f"Model of the root tables ({roots})", list(MODELS),
                         format_func=lambda m: f"{m} — {MODELS[m]}" if m != "auto" else MODELS[m],
                         key="train_tables_model")
    cells = st.columns(3)
    seed = cells[0].number_input("Seed", min_value=0, value=0, step=1, key="train_tables_seed",
                                 help="The same seed, tables and settings train the same model.")
    seconds = cells[1].number_input("Time limit (seconds)", min_value=0.0, value=0.0, step=30.0,
                                    key="train_tables_seconds",
                                    help="The whole schema's training time, shared between the tables by their "
                                         "rows; 0 = no limit.")
    device = cells[2].selectbox("Device", ["auto", "cpu", "cuda"], key="train_tables_device",
                                help="auto: a GPU when the worker has one.")
    model_name = st.text_input("Model name", key="train_tables_model_name",
                               placeholder=f"{version.dataset_name} ({SCHEMA_KIND})",
                               help="Training again under the same name adds a version to that model.")
    st.caption("Each table's model applies the default protections: categories seen on fewer than 5 rows are "
               "merged, and no value beyond the 5th most extreme on each side is released.")

    st.subheader("Privacy", anchor=False)
    privacy = _unit_privacy(who, version, units=sum(t.rows or 0 for t in plan.tables if t.is_root),
                            unit="root entity", key="train_tables",
                            explained="a row of a root table with all its rows in the other tables. Each child table "
                                      "keeps at most a fixed number of rows per parent, and the keys must be "
                                      "declared, not inferred from the rows.")

    if who.allows("member") and st.button("Start training", type="primary", icon=":material/play_arrow:",
                                          key="train_start"):
        job = attempt("starting the training", training.submit_training, who.tenant, dataset_version_id=version.id,
                      actor=who.actor, model=model, seed=int(seed), device=device, privacy=privacy,
                      model_name=model_name.strip() or None,
                      max_training_time_s=float(seconds) if seconds else None)
        if job is not None:
            st.session_state[LAST_JOB_KEY] = job.id
            remember("job", job.id)


def _unit_privacy(who: Acting, version: VersionSummary, *, units: int | None, unit: str, explained: str,
                  key: str) -> dict[str, float] | None:
    """The privacy setting of a schema or histories form (None: no DP), with the dataset's budget.

    ``unit`` names the unit of privacy ("root entity", "entity"), ``units`` how many the
    version holds (for the default delta), ``explained`` what the unit is and what is cut.
    """
    private = st.toggle("Train with differential privacy", key=f"{key}_dp")
    budget = attempt("reading the privacy budget", privacy_views.remaining_budget, who.tenant,
                     dataset_id=version.dataset_id, actor=who.actor)
    if not private:
        if budget is not None:
            st.caption(f"Privacy budget of {markdown_literal(version.dataset_name)}: "
                       f"{markdown_literal(budget.describe())}.")
        return None
    defaults = training_plan.privacy_defaults(n_rows=units or None)
    article = "an" if unit[0] in "aeiou" else "a"
    st.markdown(f"The unit of privacy is {article} **{unit}**: {explained} **Epsilon** bounds how much one {unit} may change "
                f"what the model learns (smaller is more private), **delta** is the small chance that the bound does "
                f"not hold (keep it well below 1 / {unit}s). The run is charged to the dataset's budget.")
    p = st.columns(2)
    epsilon = p[0].number_input("Epsilon", min_value=0.01, max_value=100.0, value=defaults.run_epsilon, step=0.5,
                                key=f"{key}_epsilon")
    delta = p[1].number_input("Delta", min_value=1e-12, max_value=1e-2, value=defaults.run_delta, step=1e-7,
                              format="%.1e", key=f"{key}_delta")
    if budget is None:
        st.warning("This dataset has no privacy budget yet, so differentially private training is refused. An owner "
                   "or admin sets one on the Privacy page.", icon=":material/shield:")
    else:
        st.caption(f"Remaining budget of {markdown_literal(version.dataset_name)}: "
                   f"{markdown_literal(budget.describe())}.")
    return {"epsilon": float(epsilon), "delta": float(delta)}


def _train_sequences(who: Acting, detail: VersionDetail) -> None:
    """The histories form: the roles, seed, time limit, device, name, privacy by entity; starts the job.

    No epochs, batch, target column or conditions: ``engine.train_sequences`` takes none of
    them; ``training.submit_training`` gives the messages of what it refuses.
    """
    version = detail.summary
    roles = sequence_roles(version.source)
    assert roles is not None  # the caller checked version.is_sequence
    columns = dict(detail.profile.columns) if detail.profile is not None else {}
    entities = getattr(columns.get(roles.entity), "n_distinct", None)
    st.subheader("Histories", anchor=False)
    context = ", ".join(roles.context) or "the columns constant within every entity (found by the training)"
    count = f"{entities:,} " if entities else ""
    st.markdown(f"{count}histories of **{markdown_literal(roles.entity)}**, ordered by "
                f"**{markdown_literal(roles.order_by)}**; context: {markdown_literal(context)}.")
    st.caption("Two models learn them: one draws each entity's context, history length and start; the other draws "
               "each step given the entity and the steps before it, with the time gaps and calendar. A seeded "
               "holdout of whole histories (or, with few entities, the end of each history) is set aside first. "
               "Change the roles on the Profile page.")
    cells = st.columns(3)
    seed = cells[0].number_input("Seed", min_value=0, value=0, step=1, key="train_sequences_seed",
                                 help="The same seed, table and settings train the same model.")
    seconds = cells[1].number_input("Time limit (seconds)", min_value=0.0, value=0.0, step=30.0,
                                    key="train_sequences_seconds",
                                    help="The training time of both models together; 0 = no limit.")
    device = cells[2].selectbox("Device", ["auto", "cpu", "cuda"], key="train_sequences_device",
                                help="auto: a GPU when the worker has one.")
    model_name = st.text_input("Model name", key="train_sequences_model_name",
                               placeholder=f"{version.dataset_name} ({SEQUENCE_KIND})",
                               help="Training again under the same name adds a version to that model.")
    st.subheader("Privacy", anchor=False)
    privacy = _unit_privacy(who, version, units=entities, unit="entity", key="train_sequences",
                            explained="one history with all its steps. Histories longer than the most steps kept "
                                      "are cut to it.")
    if who.allows("member") and st.button("Start training", type="primary", icon=":material/play_arrow:",
                                          key="train_start"):
        job = attempt("starting the training", training.submit_training, who.tenant, dataset_version_id=version.id,
                      actor=who.actor, seed=int(seed), device=device, privacy=privacy,
                      model_name=model_name.strip() or None,
                      max_training_time_s=float(seconds) if seconds else None)
        if job is not None:
            st.session_state[LAST_JOB_KEY] = job.id
            remember("job", job.id)


st.title("Train")
who = acting()

detail = pick_dataset_version(
    who, key="train_version", first_step="then choose it here and train a model on it.", preview_rows=0)
if detail.summary.is_schema:
    _train_schema(who, detail)
elif detail.summary.is_sequence:
    _train_sequences(who, detail)
else:
    _train_table(who, detail)

last_job = st.session_state.get(LAST_JOB_KEY)
if last_job:
    st.subheader("Training job", anchor=False)
    job = follow_job(last_job, key="train_job")
    if job is not None and job.state == "succeeded" and job.result.get("model_version_id"):
        if remembered("model_version") != job.result["model_version_id"]:
            remember("model_version", job.result["model_version_id"])
        cells = st.columns(2)
        with cells[0]:
            link_to("models", "See the model", icon=":material/inventory_2:")
        with cells[1]:
            link_to("generate", "Generate data from it", icon=":material/auto_awesome:")
    else:
        link_to("jobs", "Follow it on Jobs", icon=":material/pending_actions:")
