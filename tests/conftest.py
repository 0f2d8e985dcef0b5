"""Shared fixtures. This folder is on sys.path (pytest's prepend import mode), so helper modules
here (``stacval``, ``servers``) import by name from any test."""

from __future__ import annotations
