"""docwatch's processor: a document in, a typed Document and its Markdown/JSON out.

Knows nothing of S3 or file watching.
"""

from processor.convert import convert
from processor.document import Block, BlockType, Document, Page
from processor.options import ConvertOptions, EngineName
from processor.render import document_json, json_schema, render_markdown

__all__ = [
    "Block",
    "BlockType",
    "ConvertOptions",
    "Document",
    "EngineName",
    "Page",
    "convert",
    "document_json",
    "json_schema",
    "render_markdown",
]
