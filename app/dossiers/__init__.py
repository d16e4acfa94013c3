"""Dossier use cases (submit, receive, process, return) and the rules under them: deadlines, codes.

Rules of this package (import-linter checks the order; tests/integration/test_core_structure.py the rest):

- The caller commits. Nothing here commits a session: every function runs in the caller's
  transaction and leaves after-commit jobs on the session. Web views, CLI commands and job entry points
  (app.jobs.*) commit; where work must be committed between phases (a payment recorded before the
  platform hears of it, a call marked in flight before the outside system answers), the job orders the
  phases kept here and commits between them, or hands an explicit ``commit`` (a platform operation).
- Dependencies point one way, from top to bottom:
    services, service_calls, workflow_incidents, payments, prefill, listings   (use cases and the paginated
                               lists, independent of each other)
    progress, portal_sync      (progress: engine steps → projections and statuses, publishes events)
    deadlines, attachments, components, lookups, access, retention, stalls   (access: each permission rule
                               once, as a predicate and as SQL for lists; stalls: when a service call's job
                               counts as lost, one SQL expression)
    clock, locks, events, errors, calendar, fees, workflow_runs   (the platform's one clock and stall rule —
                               app.clock, re-exported —, one lock helper, the signals, the kept workflow runs)
  No import inside a function to dodge a cycle, no private name imported from another module.
- What follows from an event (the portal snapshot, a refund, a notification, a job, an incident) is a hook
  connected in ONE place, app.subscriptions.register(app), called by create_app; never an import's side
  effect.
"""
