from processor.render.json import document_json, json_schema
from processor.render.markdown import PAGE_BREAK, render_markdown

__all__ = ["PAGE_BREAK", "document_json", "json_schema", "render_markdown"]
