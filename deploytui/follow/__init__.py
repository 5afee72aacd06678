"""Watching a run from outside the driver's process: the read-only feed and the shared tmux session."""
