"""The data pipeline: readers, splits, vocabularies, POS-tagger features, the arc-standard
transition system and the parser's features, prepared-data files.

This package imports nothing from the rest of mesimp_engine (NumPy and the standard library
only). Modules: ``errors`` (DataError), ``idx`` and ``conllu`` (readers), ``locate`` (finding
and verifying raw files), ``mnist``, ``vocab``, ``pos_features``, ``arcstandard``,
``parser_features``, ``attachment`` (UAS/LAS), ``ud_ewt`` (encoding the treebank for the
tagger and the parser), ``prepared`` (prepared files, prepare on first use).
"""

from mesimp_engine.data.errors import DataError, DataNotFound
from mesimp_engine.data.prepared import load_mnist, load_parse, load_pos

__all__ = ["DataError", "DataNotFound", "load_mnist", "load_parse", "load_pos"]
