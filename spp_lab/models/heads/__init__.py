"""The built-in heads, each one file that registers itself (:func:`register_head`): ``spp``
(the pyramid), ``pool`` (the no-SPP baseline) and ``global`` (1×1). A new head is one more
file like these, imported here or loaded as a plug-in (``SPP_LAB_PLUGINS``)."""

from spp_lab.models.heads import globalpool, pool, spp  # noqa: F401  (register)
