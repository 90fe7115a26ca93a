"""Data sets, each a source registered by name: ``load_data("digits" | "fashion-mnist[:ROOT]" | ...)``.

Every source gives three splits (paper 4.1.1): ``train`` (80% of every class of the training set: the
weights are trained on it), ``val`` (the other 20%: the search's validation data, eval transforms) and
``test`` (held out: the accuracy reported for a model). Nothing is downloaded.

A new source is one module with a ``@register_data_source("name")`` loader, imported below.
"""
from . import cifar, digits, fashion_mnist, image_folder  # noqa: F401  (they register themselves)
from .registry import (
    DataSource,
    SourceSets,
    get_data_source,
    list_data_sources,
    load_data,
    parse_data_spec,
    register_data_source,
)
from .splits import DataSplits, ImageTensors, TransformedSubset, make_loader, per_class_split

__all__ = ["DataSource", "DataSplits", "ImageTensors", "SourceSets", "TransformedSubset", "get_data_source",
           "list_data_sources", "load_data", "make_loader", "parse_data_spec", "per_class_split",
           "register_data_source"]
