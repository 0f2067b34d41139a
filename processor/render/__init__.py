from processor.render.json import document_json, json_schema
from processor.render.markdown import PAGE_BREAK, markdown_files, render_markdown, render_pipeline_markdown

__all__ = ["PAGE_BREAK", "document_json", "json_schema", "markdown_files", "render_markdown", "render_pipeline_markdown"]
