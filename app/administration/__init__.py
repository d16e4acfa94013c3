"""The administration area's use cases: agencies and their hierarchy, departments, officers and their roles,
calendars, the agencies a procedure is published for. Administrators only (role quan_tri), checked here and not
only in the views; every change is recorded with its before and after (app.administration.changes) in the
caller's transaction, which the caller commits."""
