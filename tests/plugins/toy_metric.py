"""A toy metric: the mean confidence of the prediction on the validation set."""

from spp_lab.metrics import register_measure


@register_measure("conf", label="confidence", unit="%", stages=("val",),
                  lower_is_better=False)
def confidence(logits, labels):
    """Mean softmax probability of the predicted class."""
    return 100.0 * logits.detach().softmax(dim=1).max(dim=1).values.mean()
