"""Experiment configurations (frozen dataclasses)."""
