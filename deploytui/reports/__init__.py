"""Documents made from runbooks and journals: the deploy plan, the deploy record, timelines, durations."""
