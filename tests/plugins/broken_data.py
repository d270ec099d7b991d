"""A dataset whose loading always fails, as a flaky network filesystem might: a job on it
fails every attempt with an error that is not the user's (so the runner retries it)."""

from spp_lab.data.registry import register_dataset


@register_dataset("broken", classes=lambda data: 2)
def load_broken(data, train_seed):
    """Always fails to load."""
    raise RuntimeError("the broken toy dataset failed to load")
