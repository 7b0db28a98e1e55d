"""Helpers shared by several test modules: fabricated result dicts (``results``), a local
127.0.0.1 HTTP server and archive builders (``http``), and full-size placeholder data trees
(``fulltrees``). ``tests/conftest.py`` puts ``tests/`` on ``sys.path`` (pytest's default
prepend import mode), so any test imports them as ``from support.http import Server``."""
