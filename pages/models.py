"""Models: the registry — every model version with its metrics, privacy spent and lineage; compare two.

Model versions are immutable; only their status changes (ready, archived, withdrawn: the
last two generate nothing). The lineage runs dataset version -> model version -> generated
datasets -> quality reports.

A schema's model version (related tables) shows its tables (model, rows trained on, rows held
out, parent), the keys it was trained with, its notes and its holdout of whole root subtrees
instead of epochs and losses.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, link_to, start_here
from app.components.literal_text import markdown_literal
from app.components.name_value import name_value_table, records_table
from app.components.pickers import pick, remember
from app.components.run_facts import EPOCHLESS, early_stop, file_size_text, has_epochs, run_notes
from app.components.training_charts import loss_figure
from infra.usecases import model_registry

STATUSES = {"ready": "ready (can generate)", "archived": "archived", "withdrawn": "withdrawn (must not be used)"}

st.title("Models")
who = acting()

models = attempt("listing the models", model_registry.list_models, who.tenant, actor=who.actor)
if models is None:
    st.stop()
versions = sorted((v for m in models for v in m.versions), key=lambda v: v.created_at, reverse=True)
if not versions:
    start_here("train a model on the Train page; every trained version is registered here with its metrics, "
               "privacy spent and lineage.", go_to="train", label="Go to Train")
    st.stop()

st.subheader("Registry", anchor=False)
st.dataframe(
    pl.DataFrame({
        "model": [v.model_name for v in versions],
        "version": [v.version for v in versions],
        "type": [v.model_type for v in versions],
        "trained on": [f"{v.dataset_name} v{v.dataset_version}" for v in versions],
        "epochs": [v.metrics.get("epochs_run") if has_epochs(v.model_type) and not (v.is_schema or v.is_sequence) else None
                   for v in versions],
        "training s": [v.metrics.get("fit_seconds") for v in versions],
        "epsilon spent": [v.epsilon for v in versions],
        "status": [v.status for v in versions],
        "generated sets": [len(v.generated) for v in versions],
        "created (UTC)": [f"{v.created_at:%Y-%m-%d %H:%M}" for v in versions],
    }, schema_overrides={"epochs": pl.Int64, "training s": pl.Float64, "epsilon spent": pl.Float64}),
    hide_index=True,
    column_config={"training s": st.column_config.NumberColumn(format="%.1f")},
)

st.subheader("Version", anchor=False)
version = pick("Model version", versions, kind="model_version", key="models_version", ident=lambda v: v.id,
               describe=lambda v: f"{v.label} · {v.model_type} · {v.status}")
cells = st.columns(4)
epochs_run = version.metrics.get("epochs_run")
if version.is_schema:  # one model per table: their epochs are in the table below
    cells[0].metric("Tables", len(version.tables), help="Each root table by the chosen model, each child by ARGN.")
elif version.is_sequence:
    cells[0].metric("Histories", f"{version.sequence.get('entities', 0):,}",
                    help="The entities whose histories the model trained on (the holdout's left out).")
elif has_epochs(version.model_type):
    cells[0].metric("Epochs run", "—" if epochs_run is None else epochs_run)
else:  # MST has no epochs: its "epochs" are rounds of estimation from the marginals it measured
    cells[0].metric(f"{EPOCHLESS[version.model_type].capitalize()}s", "—" if epochs_run is None else epochs_run,
                    help=f"{version.model_type} learns from marginals: it has no epochs (passes over the data).")
cells[1].metric("Training time", f"{version.metrics.get('fit_seconds', 0):.0f} s")
cells[2].metric("Epsilon spent", "no DP" if version.epsilon is None else f"{version.epsilon:.3g}")
cells[3].metric("Model file", file_size_text(version.n_bytes), help="The size of the stored model file.")
stopped = early_stop(version.metrics, version.config)
if stopped:
    st.caption(f"Early stopping: {markdown_literal(stopped)}.")
if version.is_schema:
    st.markdown("**Tables**")
    st.dataframe(pl.DataFrame({
        "table": [t.name for t in version.tables],
        "model": [t.model for t in version.tables],
        "rows trained on": [t.rows for t in version.tables],
        "holdout rows": [t.holdout_rows for t in version.tables],
        "drawn under": [t.parent or "— (root)" for t in version.tables],
        "epochs": [t.epochs_run for t in version.tables],
        "training s": [t.fit_seconds for t in version.tables],
    }, schema_overrides={"rows trained on": pl.Int64, "holdout rows": pl.Int64, "epochs": pl.Int64,
                         "training s": pl.Float64}),
        hide_index=True, key="models_tables",
        column_config={"training s": st.column_config.NumberColumn(format="%.1f")})
    keys = version.keys
    primary = ", ".join(f"{table}.{column}" for table, column in (keys.get("primary_keys") or {}).items()) or "none"
    foreign = "\n".join(f"  - `{fk}`" for fk in keys.get("foreign_keys") or []) or "  - none"
    st.markdown(f"**Keys**\n- primary keys: {markdown_literal(primary)}\n- foreign keys:\n{foreign}")
    held = version.tables_holdout
    if held is not None and held.has_holdout:
        st.caption(f"Holdout: whole subtrees of {held.share:.0%} of the root rows (seed {held.seed}), "
                   f"{sum(held.rows.values()):,} rows in all, never seen by the model.")
    elif held is not None:
        st.caption(f"No holdout: {markdown_literal(held.reason or 'none was set aside')}.")
if version.is_sequence:
    facts = version.sequence
    context = ", ".join(facts.get("context") or []) or "none"
    st.markdown(f"**Histories**\n- entity: {markdown_literal(str(facts.get('entity')))}, time: "
                f"{markdown_literal(str(facts.get('order_by')))}\n- context: {markdown_literal(context)}\n"
                f"- steps: {markdown_literal(', '.join(facts.get('steps') or []))}\n"
                f"- {facts.get('rows', 0):,} steps trained on; history lengths {facts.get('min_length')} to "
                f"{facts.get('max_length')}")
    held = version.sequences_holdout
    if held is not None and held.has_holdout:
        how = (f"{held.holdout_entities:,} whole histories" if held.by == "entity"
               else f"the last {held.share:.0%} of each history")
        st.caption(f"Holdout: {how} (seed {held.seed}), {held.rows:,} steps, never seen by the model.")
    elif held is not None:
        st.caption(f"No holdout: {markdown_literal(held.reason or 'none was set aside')}.")
notes = run_notes(version.metrics)
if notes:
    st.markdown("**Notes of the run**\n" + "\n".join(f"- {markdown_literal(note)}" for note in notes))
if version.privacy_spent:
    with st.expander("Privacy spent"):
        st.dataframe(name_value_table(version.privacy_spent, skip=("history", "mechanisms")),
                     hide_index=True, key="models_privacy_spent")
        mechanisms = [m for m in version.privacy_spent.get("mechanisms") or [] if isinstance(m, dict)]
        if mechanisms:
            st.caption("Where the budget went")
            st.dataframe(records_table(mechanisms, columns=("name", "kind", "epsilon_alone", "budget_share")),
                         hide_index=True, key="models_privacy_mechanisms")
figure = loss_figure(version.history, title=f"Losses of {version.label}",
                     x_title=EPOCHLESS.get(version.model_type, "epoch"))
if figure is not None:
    st.plotly_chart(figure, key="models_loss", config={"displaylogo": False})
with st.expander("Settings"):
    st.dataframe(name_value_table(version.config), hide_index=True, key="models_settings")

st.markdown("**Lineage**")
lines = [f"- Trained on **{markdown_literal(version.dataset_name)} v{version.dataset_version}**"]
for generated in version.generated:
    verdicts = ", ".join("passed" if ok else "blocked" for ok in generated.report_passed) or "not assessed"
    condition = generated.params.get("conditions")
    where = f" where {markdown_literal(condition)}" if condition else ""
    lines.append(f"  - generated {generated.n_rows:,} rows{where} on {generated.created_at:%Y-%m-%d %H:%M} "
                 f"UTC · quality: {verdicts}")
if not version.generated:
    lines.append("  - nothing generated from it yet")
st.markdown("\n".join(lines))

actions = st.columns(3)
if version.status == "ready":
    with actions[0]:
        if st.button("Generate data from it", key="models_generate", icon=":material/auto_awesome:"):
            remember("model_version", version.id)
            from app.pages_registry import page

            st.switch_page(page("generate"))
if who.allows("member"):
    status = actions[1].selectbox("Status", list(STATUSES), index=list(STATUSES).index(version.status)
                                  if version.status in STATUSES else 0, format_func=STATUSES.get,
                                  key=f"models_status_{version.id}")
    if status != version.status and actions[2].button("Change status", key="models_status_apply"):
        changed = attempt("changing the status", model_registry.set_status, who.tenant,
                          model_version_id=version.id, status=status, actor=who.actor)
        if changed is not None:
            st.rerun()

st.subheader("Compare two versions", anchor=False)
if len(versions) < 2:
    st.caption("Train a second version (or another model) to compare them here.")
else:
    by_id = {v.id: v for v in versions}
    c = st.columns(2)
    first = c[0].selectbox("First", list(by_id), format_func=lambda i: by_id[i].label, key="models_cmp_a")
    second = c[1].selectbox("Second", list(by_id), index=1, format_func=lambda i: by_id[i].label, key="models_cmp_b")
    if first == second:
        st.caption("Choose two different versions.")
    else:
        a, b = by_id[first], by_id[second]
        rows = model_registry.compare_versions(a, b)
        only_different = st.toggle("Only what differs", value=True, key="models_cmp_diff")
        shown = [r for r in rows if r["same"] == "no"] if only_different else rows
        st.dataframe(pl.DataFrame(shown, schema={k: pl.String for k in rows[0]}) if shown else pl.DataFrame(),
                     hide_index=True)
        figures = st.columns(2)
        for cell, v, k in ((figures[0], a, "a"), (figures[1], b, "b")):
            fig = loss_figure(v.history, title=f"Losses of {v.label}", x_title=EPOCHLESS.get(v.model_type, "epoch"))
            if fig is not None:
                cell.plotly_chart(fig, key=f"models_cmp_loss_{k}", config={"displaylogo": False})
link_to("generate", "Generate data from a model", icon=":material/auto_awesome:")
