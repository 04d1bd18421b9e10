"""A plugin whose registration hook is misspelled (no final "s")."""
