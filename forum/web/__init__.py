"""The HTML pages: forms, fragments for our scripts, one module per concern (topics, notifications,
search, accounts, password reset, email confirmation, moderation, ...).

What pages share with the JSON API (the viewer, the database session, CSRF, redirects) lives in
forum/deps.py; pages never import forum.api, and services never import pages (pyproject.toml).
"""
