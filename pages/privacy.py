"""Privacy: each dataset's differential-privacy budget, its ledger of charges, and the admin's settings.

The budget belongs to a dataset; every DP training charges (epsilon, delta) to its ledger,
which is append-only and hash-chained (the page says whether the chain verifies). Owners and
admins set budgets, mark datasets sensitive, and may require DP on sensitive datasets.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, start_here
from app.components.after_save import SavedNotice, rerun_with, show_saved
from app.components.literal_text import markdown_literal
from infra.usecases import privacy_views, training_plan

st.title("Privacy")
who = acting()

st.caption("Epsilon measures how much one person's row can change what a model learns (smaller is more private); "
           "delta is the small chance that this bound fails. A dataset's budget caps the sum over every "
           "differentially private training run on it; generating from a trained model costs nothing more.")

show_saved("privacy")  # after a save: the tables below are read again, and this says what changed
datasets = attempt("reading the budgets", privacy_views.overview, who.tenant, actor=who.actor)
if datasets is None:
    st.stop()
if not datasets:
    start_here("save a table as a dataset on the Data page; its privacy budget and ledger show here.", go_to="data",
               label="Go to Data")
    st.stop()


def _cell(value: float | None) -> float | None:
    return None if value is None else float(value)


st.subheader("Budgets", anchor=False)
st.dataframe(
    pl.DataFrame({
        "dataset": [d.name for d in datasets],
        "sensitive": [d.sensitive for d in datasets],
        "epsilon cap": [_cell(d.budget.epsilon_cap) if d.budget else None for d in datasets],
        "epsilon spent": [_cell(d.budget.epsilon_spent) if d.budget else None for d in datasets],
        "epsilon reserved": [_cell(d.budget.epsilon_reserved) if d.budget else None for d in datasets],
        "epsilon left": [_cell(d.budget.epsilon_remaining) if d.budget else None for d in datasets],
        "delta cap": [_cell(d.budget.delta_cap) if d.budget else None for d in datasets],
        "delta left": [_cell(d.budget.delta_remaining) if d.budget else None for d in datasets],
    }, schema_overrides={k: pl.Float64 for k in ("epsilon cap", "epsilon spent", "epsilon reserved", "epsilon left",
                                                  "delta cap", "delta left")}),
    hide_index=True,
)
if any(d.budget is None for d in datasets):
    st.caption("A dataset without a budget cannot be trained with differential privacy until an owner or admin "
               "sets one.")

by_id = {d.dataset_id: d for d in datasets}
chosen = st.selectbox("Dataset", list(by_id), format_func=lambda i: by_id[i].name, key="privacy_dataset")
ledger = attempt("reading the ledger", privacy_views.ledger, who.tenant, dataset_id=chosen, actor=who.actor)
if ledger is not None:
    budget = ledger.dataset.budget
    if budget is None:
        st.info(f"{markdown_literal(ledger.dataset.name)} has no privacy budget yet.", icon=":material/shield:")
    else:
        cells = st.columns(3)
        cells[0].metric("Epsilon left", f"{budget.epsilon_remaining:.4g}", help=f"of {budget.epsilon_cap:g}")
        cells[1].metric("Delta left", f"{budget.delta_remaining:.3g}", help=f"of {budget.delta_cap:g}")
        composition = ledger.composition or {}
        rdp = (composition.get("rdp") or {}).get("epsilon")
        cells[2].metric("Epsilon spent, RDP composition", "—" if rdp is None else f"{rdp:.4g}",
                        help="Tighter than the sum of record when runs stored their privacy curves.")
    st.markdown("**Ledger**")
    if ledger.verified:
        st.caption(f"{len(ledger.entries)} entries; the hash chain verifies.")
    else:
        st.error(f"The ledger does not verify: {markdown_literal(ledger.problem or 'unknown problem')}",
                 icon=":material/gpp_bad:")
    if ledger.entries:
        st.dataframe(pl.DataFrame({
            "#": [e.seq for e in ledger.entries],
            "entry": [e.kind for e in ledger.entries],
            "epsilon": [e.epsilon for e in ledger.entries],
            "delta": [e.delta for e in ledger.entries],
            "mechanism": [e.mechanism or "" for e in ledger.entries],
            "job": [e.job_id or "" for e in ledger.entries],
            "time (UTC)": [f"{e.created_at:%Y-%m-%d %H:%M:%S}" for e in ledger.entries],
            "hash": [e.hash[:16] for e in ledger.entries],
        }), hide_index=True)
    else:
        st.caption("No charge yet: no differentially private training has run on this dataset.")

    if who.allows("admin"):
        offered = training_plan.privacy_defaults()  # a new budget's caps: the platform's settings
        with st.expander("Change the budget and sensitivity (owners and admins)"):
            cells = st.columns(2)
            epsilon_cap = cells[0].number_input("Epsilon cap", min_value=0.0, max_value=1000.0,
                                                value=float(budget.epsilon_cap if budget else offered.budget_epsilon),
                                                step=0.5, key=f"privacy_eps_{chosen}")
            delta_cap = cells[1].number_input("Delta cap", min_value=0.0, max_value=0.5,
                                              value=float(budget.delta_cap if budget else offered.budget_delta),
                                              step=1e-6, format="%.1e", key=f"privacy_delta_{chosen}")
            if st.button("Save the budget", key="privacy_save_budget", icon=":material/save:"):
                saved = attempt("setting the budget", privacy_views.set_budget, who.tenant, dataset_id=chosen,
                                epsilon_cap=epsilon_cap, delta_cap=delta_cap, actor=who.actor)
                if saved is not None:
                    rerun_with("privacy", SavedNotice(
                        f"Budget of {markdown_literal(ledger.dataset.name)} set: "
                        f"{markdown_literal(saved.describe())}."))
            sensitive = st.toggle("This dataset is sensitive", value=ledger.dataset.sensitive,
                                  key=f"privacy_sensitive_{chosen}")
            if sensitive != ledger.dataset.sensitive and st.button("Save sensitivity", key="privacy_save_sensitive"):
                if attempt("marking the dataset", privacy_views.set_sensitive, who.tenant, dataset_id=chosen,
                           sensitive=sensitive, actor=who.actor) is not None:
                    st.rerun()

st.subheader("Policy", anchor=False)
required = attempt("reading the policy", privacy_views.policy, who.tenant, actor=who.actor)
if required is not None:
    if who.allows("admin"):
        wanted = st.toggle("Require differential privacy on sensitive datasets", value=required,
                           key="privacy_policy")
        if wanted != required and st.button("Save the policy", key="privacy_save_policy"):
            if attempt("setting the policy", privacy_views.set_policy, who.tenant, require_dp_on_sensitive=wanted,
                       actor=who.actor) is not None:
                st.rerun()
    else:
        st.caption("Sensitive datasets " + ("must be" if required else "need not be")
                   + " trained with differential privacy in this workspace.")
