"""A plugin whose entry-point module cannot even be imported."""
