"""A third party registering corenn-fc's activation "relu" again; its entry point sorts after "fc"."""
