"""Argument types the sub-commands share: a bad value is argparse's one-line error, before
any work starts."""

import argparse


def integers(text):
    """``"154,160"`` -> [154, 160]."""
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def choices_list(choices):
    """A type for ``"a,b"`` -> ["a", "b"], each one of ``choices``."""

    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"expected comma-separated names from {', '.join(choices)}, "
                                             f"got {text!r}")
        return names

    return parse


def positive_int(text):
    """An integer of at least 1."""
    return _int_at_least(text, 1)


def non_negative_int(text):
    """An integer of at least 0."""
    return _int_at_least(text, 0)


def _int_at_least(text, least):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value
