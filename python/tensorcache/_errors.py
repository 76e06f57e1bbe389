"""Exceptions of the tensorcache package.

Every error carries the same symbolic code as the C library (``TC_ERR_<CODE>`` in
include/tensorcache.h): ``err.code == "CHECKSUM"``, ``err.number == 20``. The class is chosen so
that ordinary Python handling also works: a sample index out of range is an ``IndexError``, a
missing field a ``KeyError``, a damaged file a ``ValueError`` (``FormatError``).
"""

import re

# (name, number) exactly as TC_ERROR_LIST in include/tensorcache.h; the numbers never change.
# Kept here for the NumPy-only reader; python/tests/test_header.py compares it with the header
# and the library, and _native.check_library() refuses a library that disagrees.
ERROR_CODES = {
    "OK": 0, "IO": 1, "NOMEM": 2, "INVALID_ARG": 3, "TRUNCATED": 4, "BAD_MAGIC": 5, "VERSION": 6,
    "HEADER": 7, "SIZE_MISMATCH": 8, "REGION_BOUNDS": 9, "OVERLAP": 10, "ALIGNMENT": 11,
    "OVERFLOW": 12, "DTYPE": 13, "CODEC": 14, "NAME": 15, "DUPLICATE_NAME": 16, "RESERVED": 17,
    "SHAPE": 18, "INDEX": 19, "CHECKSUM": 20, "LAYOUT": 21, "NOT_FOUND": 22, "RANGE": 23,
    "WRONG_KIND": 24, "METADATA": 25, "STATE": 26, "SAMPLE_MISMATCH": 27, "NO_SPACE": 28,
    "CORRUPT_BLOCK": 29, "BUFFER_TOO_SMALL": 30, "FIELD_COUNT": 31, "PADDING": 32,
    "EXISTS": 37, "SAME_FILE": 38, "NOT_REGULAR": 39, "STOPPED": 42, "TIMEOUT": 43,
}
# 33-36 are the tensorcache command's own codes (tools/errors.h); the library never returns them.
ERROR_NAMES = {num: name for name, num in ERROR_CODES.items()}

# Codes that mean "this file is not a valid tensorcache file" (FORMAT.md section 9).
FORMAT_CODES = frozenset({
    "TRUNCATED", "BAD_MAGIC", "VERSION", "HEADER", "SIZE_MISMATCH", "REGION_BOUNDS", "OVERLAP",
    "ALIGNMENT", "OVERFLOW", "DTYPE", "CODEC", "NAME", "DUPLICATE_NAME", "RESERVED", "SHAPE",
    "INDEX", "CHECKSUM", "LAYOUT", "METADATA", "CORRUPT_BLOCK", "FIELD_COUNT", "PADDING",
})


_REPORTED_CODE = re.compile(r"^\S*Error: ([A-Z_]+): ", re.MULTILINE)


def _code_in_report(text):
    """The code of the last "...Error: CODE: message" line of a re-raised traceback text."""
    codes = [c for c in _REPORTED_CODE.findall(str(text)) if c in ERROR_CODES]
    return codes[-1] if codes else "INVALID_ARG"


class Error(Exception):
    """Base class: ``code`` is the C error name ("CHECKSUM"), ``number`` its C number.

    Built from one argument (``FormatError(text)``), as PyTorch's DataLoader does when it
    re-raises a worker's exception in the main process, the code is recovered from the text, so
    the error keeps its class and code instead of becoming a RuntimeError."""

    def __init__(self, code, message=None, sys_errno=0):
        if message is None:
            code, message = _code_in_report(code), str(code)
        if code not in ERROR_CODES:
            raise ValueError("unknown tensorcache error code %r" % (code,))
        self.code = code
        self.number = ERROR_CODES[code]
        self.message = message
        self.sys_errno = sys_errno
        super().__init__(message)

    def __str__(self):
        return "%s: %s" % (self.code, self.message)

    def __reduce__(self):  # picklable across DataLoader workers
        return (error_from_code, (self.code, self.message, self.sys_errno))


class FormatError(Error, ValueError):
    """The file violates docs/FORMAT.md (truncated, bad checksum, overlapping regions, ...)."""


class TCIOError(Error, OSError):
    """A system call failed (open, read, map). ``sys_errno`` holds errno."""

    def __init__(self, code, message=None, sys_errno=0):
        Error.__init__(self, code, message, sys_errno)
        self.errno = sys_errno or None


class NotFoundError(Error, KeyError):
    """No field of that name."""


class RangeError(Error, IndexError):
    """A sample index outside 0..N-1."""


class WrongKindError(Error, TypeError):
    """The operation does not apply to this kind of field (e.g. a whole-field view of a
    variable-shape or compressed field)."""


class SampleMismatchError(Error, ValueError):
    """A sample given to the writer does not match the fields declared from the first sample."""


class InvalidArgumentError(Error, ValueError):
    """An argument is invalid (bad layout tag, unsupported dtype, ...)."""


class OutputExistsError(Error, FileExistsError):
    """The output path exists and ``overwrite=True`` was not given (EXISTS)."""


class OutputRefusedError(Error, OSError):
    """The output may never be written: it is the same file as an input (SAME_FILE), or a
    directory, socket or block device (NOT_REGULAR). ``overwrite=True`` does not change that."""


class NativeLibraryError(Error, OSError):
    """A native library (libtensorcache, libxxhash, liblz4) is needed and could not be loaded."""

    def __init__(self, message):
        Error.__init__(self, "IO", message)


_CLASS_BY_CODE = {
    "IO": TCIOError, "NO_SPACE": TCIOError, "NOT_FOUND": NotFoundError, "RANGE": RangeError,
    "WRONG_KIND": WrongKindError, "SAMPLE_MISMATCH": SampleMismatchError,
    "INVALID_ARG": InvalidArgumentError, "EXISTS": OutputExistsError,
    "SAME_FILE": OutputRefusedError, "NOT_REGULAR": OutputRefusedError,
}


def error_from_code(code, message, sys_errno=0):
    """Builds the exception matching C error name `code`."""
    if isinstance(code, int):
        code = ERROR_NAMES.get(code, "INVALID_ARG")
    if code in FORMAT_CODES:
        return FormatError(code, message, sys_errno)
    return _CLASS_BY_CODE.get(code, Error)(code, message, sys_errno)
