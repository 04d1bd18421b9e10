"""A plugin whose registration hook raises halfway: nothing of it may be registered."""
