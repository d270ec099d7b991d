"""The built-in datasets, each one file that registers itself (:func:`register_dataset`):
``shapes`` (embedded), ``imagefolder``, ``cifar10`` and ``caltech101``. A new dataset is one
more file like these, imported here or loaded as a plug-in (``SPP_LAB_PLUGINS``)."""

from spp_lab.data.sets import caltech101, cifar10, imagefolder, shapes  # noqa: F401
