"""Typed conversion errors: each says whether retrying could help."""

from __future__ import annotations

from processor.document import ErrorInfo


class ConversionError(Exception):
    """A document could not be converted at all."""

    retryable = False

    def info(self) -> ErrorInfo:
        return ErrorInfo(type=type(self).__name__, message=str(self), retryable=self.retryable)


class EmptyInput(ConversionError):
    """The input has zero bytes."""


class UnsupportedFormat(ConversionError):
    """The content is not a PDF, PNG, JPEG or TIFF (whatever the file name says)."""


class CorruptInput(ConversionError):
    """The content claims a supported format but cannot be parsed."""


class EncryptedInput(ConversionError):
    """The PDF is password-protected."""


class InputTooLarge(ConversionError):
    """The document exceeds a configured limit (pages, pixels)."""


class EngineFailure(ConversionError):
    """The engine failed in a way unrelated to this input (may pass on retry)."""

    retryable = True


class EngineUnavailable(ConversionError):
    """The engine cannot be loaded (missing models, missing library)."""

    retryable = True


def error_info(exc: BaseException) -> ErrorInfo:
    if isinstance(exc, ConversionError):
        return exc.info()
    return ErrorInfo(type=type(exc).__name__, message=str(exc) or repr(exc), retryable=True)
