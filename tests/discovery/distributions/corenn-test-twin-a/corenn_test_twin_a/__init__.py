"""One of two third parties that both register the activation "twin"."""
