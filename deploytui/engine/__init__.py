"""One run of a runbook: intents in, events out; processes, timers, the schedule guard. No Textual here."""
