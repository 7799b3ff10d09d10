"""The market's web pages: role dashboards and self-hosted API docs, served by the service.

Pages are plain HTML with small ES modules that read the public API; front-end libraries come
from the pinned npm packages in ``node_modules`` (nothing is loaded from another host).
"""
