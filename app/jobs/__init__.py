"""Background work, in two layers.

- `app.jobs.queue` — the infrastructure: queue names, `enqueue_after_commit`, the dispatchers (rq, in-process
  thread, recording). A low layer: the dossier core enqueues through it and it imports nothing of the core.
- `app.jobs.tasks`, `app.jobs.service_calls`, `app.jobs.payments`, `app.jobs.portal` — the job entry points.
  A high layer: they call the core's use cases (which never commit) and commit their own work, between
  phases where an outside system is called with no transaction open.
- `app.jobs.sweeper` — finds in the database the work those jobs owe whose job was lost, and enqueues it again
  (its sources are registered in app.subscriptions; the workers and the embedded job thread run it).

This package module imports nothing, so importing the queue never imports the jobs.
"""
