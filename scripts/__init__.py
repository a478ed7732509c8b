"""Thin files the container and supervisord run by path; the operator CLIs are entry points (fleet.cli)."""
