"""Why an export could not be built. Pure module."""


class ExportError(Exception):
    """The labels cannot be written as asked (an image file missing or unreadable, a label that
    does not fit its image); the message names the item, the field and the image."""
