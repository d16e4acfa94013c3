"""Dossier use cases (submit, receive, process, return) and the rules under them: deadlines, codes."""
