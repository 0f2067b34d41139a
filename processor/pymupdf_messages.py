"""PyMuPDF writes its messages to stdout, which is docwatch's JSON log.

``route_pymupdf_messages`` sends them to the Python logger ``pymupdf`` instead (as warnings;
whoever runs the processor decides where Python logging goes) and turns off PyMuPDF's advice
to install the optional pymupdf-layout package, a bare ``print`` no setting can redirect.
"""

from __future__ import annotations

import logging
import os

import pymupdf

LOGGER_NAME = "pymupdf"


def route_pymupdf_messages() -> None:
    # The environment carries the same choice to processes started after this call (the
    # page workers): PyMuPDF reads these variables when it is imported.
    os.environ["PYMUPDF_MESSAGE"] = f"logging:name={LOGGER_NAME},level={logging.WARNING}"
    os.environ["PYMUPDF_SUGGEST_LAYOUT_ANALYZER"] = "0"
    pymupdf.set_messages(pylogging=True, pylogging_name=LOGGER_NAME, pylogging_level=logging.WARNING)
    pymupdf.no_recommend_layout()
