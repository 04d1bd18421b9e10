"""A plugin that loads fine but whose string factories point nowhere: an error at create time."""
