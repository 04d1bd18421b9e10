"""A plugin registering the activation "cube" that corenn-test-good registers too."""
