"""Executing a plan: the fault ledger, the drivers' calls with timeouts, the samplers, signals and
stop conditions, the reverts; everything seen goes to the timeline."""
