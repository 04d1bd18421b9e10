""" "corenn-extras" as the issue's plugin author wrote it: a good activation with an option and a
gain, a good layer, and layers with the mistakes corenn must catch and blame on them."""
