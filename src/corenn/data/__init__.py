"""Data sets and data loading: see :mod:`corenn.data.splits` and :mod:`corenn.data.loader`."""
