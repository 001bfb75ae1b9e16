"""The one exception type the command line turns into a one-line message and a non-zero exit."""


class PrunelabError(Exception):
    """A problem the user can fix (bad input, corrupt file, impossible setting).

    The CLI prints ``prunelab: error: <message>`` and exits with status 2; no traceback.
    """
