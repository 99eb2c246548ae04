from portraittalker.errors import PortraitTalkerError

"""Errors of the appearance package."""


class GuidanceError(PortraitTalkerError, ValueError):
    """A guidance cannot run with what it was given (missing weights, no face in a photo, ...)."""
