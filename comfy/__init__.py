"""Talking to ComfyUI: HTTP client, backend pool, workflow builders, graph validation, simulator.

This package is a plain library with no Django imports outside ``apps.py`` and the
management command, so it can be used (and tested) without a configured project.
"""
