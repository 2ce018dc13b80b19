"""feedback-pipeline: community posts and support tickets in, ranked product themes out."""

__version__ = "0.1.0"
