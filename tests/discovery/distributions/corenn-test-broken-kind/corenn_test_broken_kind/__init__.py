"""A plugin registering a kind corenn does not know, after a valid component."""
