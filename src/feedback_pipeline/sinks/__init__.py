"""Live delivery sinks (Jira, Slack): one package per external system."""
