"""A third party registering corenn-fc's layer "fully_connected"; its entry point "clash" sorts before "conv" and "fc"."""
