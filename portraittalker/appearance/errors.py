"""Errors of the appearance package."""


class GuidanceError(ValueError):
    """A guidance cannot run with what it was given (missing weights, no face in a photo, ...)."""
