"""Rehearsal world: a moto AWS account and local git remotes laid out like the seeds' (no Textual)."""
