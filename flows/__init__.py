"""Prefect flows and deployments of feedback-pipeline."""
