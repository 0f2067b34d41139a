"""docwatch's processor: a document in, a typed Document and its Markdown/JSON out.

Knows nothing of S3 or file watching. The names below are imported when first used, so that
importing ``processor.options`` (the command line does) does not load PyMuPDF.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processor.convert import convert as convert
    from processor.document import Block as Block
    from processor.document import BlockType as BlockType
    from processor.document import Document as Document
    from processor.document import Page as Page
    from processor.options import ConvertOptions as ConvertOptions
    from processor.options import EngineName as EngineName
    from processor.render import document_json as document_json
    from processor.render import json_schema as json_schema
    from processor.render import render_markdown as render_markdown

_WHERE = {
    "Block": "processor.document",
    "BlockType": "processor.document",
    "Document": "processor.document",
    "Page": "processor.document",
    "ConvertOptions": "processor.options",
    "EngineName": "processor.options",
    "document_json": "processor.render",
    "json_schema": "processor.render",
    "render_markdown": "processor.render",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'processor' has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_WHERE[name]), name)
    return value


class _Processor(types.ModuleType):
    """``processor.convert`` is the function, also once the submodule of that name is imported
    (the import system then binds the submodule to the package's attribute; the setter keeps
    the name for the function)."""

    @property
    def convert(self) -> Any:
        return importlib.import_module("processor.convert").convert

    @convert.setter
    def convert(self, value: Any) -> None:
        pass


sys.modules[__name__].__class__ = _Processor
__all__ = ["Block", "BlockType", "ConvertOptions", "Document", "EngineName", "Page", "convert", "document_json",
           "json_schema", "render_markdown"]
