"""A well-behaved third-party plugin: one activation and one layer, registered lazily."""
