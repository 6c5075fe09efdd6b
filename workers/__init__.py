"""Doppel's background workers: Dramatiq actors that train, generate and assess.

- ``tasks``: the actors (``dramatiq workers.tasks -Q gpu``), one per job kind and queue.
- ``runner``: one delivery of a job message: claim the job row, run the kind's handler under
  a renewed lease, record the outcome exactly once.
- ``training`` / ``train_child``: training in a child process (killable), with checkpoints
  in the object store and resume after a crash.
- ``generation``, ``assessment``: the other two handlers.
- ``events``: notifications and signed webhooks when a job ends.
- ``environment``: the database, object store and model cache a worker process uses.

``python -m workers`` starts a worker (see ``workers.__main__``).
"""
