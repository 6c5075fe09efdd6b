"""Differential privacy for training: the configuration, the budget of a run, the mechanisms.

``engine.Privacy`` (``config``) says what a run may spend; ``PrivateRun`` (``run``) plans and
accounts for it with one Opacus accountant; ``private_statistics`` measures the statistics
the transformer is built from with accounted histograms only; ``dpsgd`` trains the networks that read real rows with DP-SGD (Opacus's
clipping and noise, Poisson sampling, BatchMemoryManager; ARGN, TVAE and CTGAN's critic, its
gradient penalty included, clip by exact per-row gradient norms computed without per-row
gradients, ``linear_norms`` for plain linear layers); ``marginals`` then shifts TVAE's and
CTGAN's one-hot outputs to the private marginals measured there (post-processing);
``audit`` bounds epsilon from below empirically. The MST model (``engine.models.mst``) is the marginal-based alternative for
small budgets.

What reads real rows under DP, and how it is charged:

| what | mechanism | budget |
|---|---|---|
| value ranges, bins, null shares (numbers, dates) | Gaussian histogram on a public partition | preprocessing share |
| category lists (not declared) | Gaussian counts + noisy threshold | preprocessing share + 10% of delta |
| category frequencies (CTGAN's conditions; TVAE's and CTGAN's calibration) | the same counts (or uniform) | preprocessing share |
| network weights (TVAE, ARGN: all; CTGAN: the critic) | DP-SGD | the rest |
| MST's marginals and tree | Gaussian marginals, exponential mechanism | the rest |

With rows grouped into entities (``groups``: ``RowGroups``, e.g. a root row of a schema with
all its descendants) the unit of privacy is the entity: histograms count a row ``1 / n_e``,
DP-SGD samples entities and clips each row to ``C / n_e`` (see ``engine.privacy.groups``).

Not charged, because they are treated as public: the schema (column names, dtypes), the
user's declarations (``column_types``, ``bounds``, ``categories``), and the row count.
Training losses, validation splits, early stopping, data hashes and the profile's
column-type guesses are not used or not published under DP.
"""

from engine.privacy.config import Privacy

__all__ = ["Privacy"]
