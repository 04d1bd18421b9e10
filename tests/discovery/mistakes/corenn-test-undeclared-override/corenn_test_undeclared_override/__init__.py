"""A layer with a kernel, and numpy's override of it written wrong (see fast.py)."""
