"""A plugin whose registration hook lacks ``@corenn.hookimpl``."""
