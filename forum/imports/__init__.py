"""Bringing another forum's history in: one module per source (discourse.py, and others beside it).

Importers are services: they write through the domain services (forum/posting.py) with the original
authors and dates, tell nobody, and remember what they brought in (the `import_map` table,
forum/models/imports.py) so that running them again imports only what is new. They import neither
door (forum.web, forum.api) nor the app.
"""
