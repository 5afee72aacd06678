"""Many apps, one team (GOV.UK RFC-070): blocking an app's pipeline, apps that cannot deploy together, and
the team's shared record of runs in a store (integrations/store.py). The engine knows nothing of this: the
command line composes it around a run."""
