"""What happened in a run: the event kinds and the fold of events into a run's state. No Textual, no I/O."""
