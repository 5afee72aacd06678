"""One run of a runbook: events, state as a fold over them, step execution. No Textual here.

Import the parts directly (`from deploytui.engine.run import Run`): the journal imports
`engine.events`, so this package must not import `run` eagerly."""
