"""Drawing from numpy's global random state, as the course does, through corenn's generators."""

import numpy as np


def global_state_generator():
    """A fresh numpy Generator seeded by a draw from numpy's global random state.

    corenn's initializers and batch orders take a Generator; the course draws from
    ``np.random`` itself. Seeding a Generator from the global state joins the two: every call
    advances the global state, so ``np.random.seed(s)`` fixes everything drawn after it.
    """
    return np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint32))
