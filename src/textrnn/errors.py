"""One exception type for problems a user can fix (bad file, bad option, bad run dir).

The CLI prints these as one line and exits non-zero; anything else is a bug and
keeps its traceback.
"""


class TextrnnError(ValueError):
    """A problem with the user's input, stated in one line. A ``ValueError``, as the
    layers' and tokenizer's own argument checks are, so one ``except ValueError``
    catches every bad-input error of the library."""
