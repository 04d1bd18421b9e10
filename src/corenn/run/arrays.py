"""The trainer's backend: the backend object of a run's ``backend``, on its ``device``.

The training loop is backend-neutral: what differs between numpy arrays and torch tensors (where
the data lives, indexing it with a batch order, counting correct predictions, switching off
autograd, batched image operations for augmentation) goes through the run's backend object
(:class:`corenn.backend.Backend`), found by name in the loaded plugins. The core never imports
torch.
"""

from corenn.backend import TORCH_INSTALL  # noqa: F401 (the launcher's message)
from corenn.plugins import get_backend


def array_backend(backend, device):
    """The backend object of ``backend`` (a name) on ``device`` (``"auto"`` included)."""
    return get_backend(backend).on(device)
