"""Engine factory: checked, and imports each engine's module only when it is asked for."""

from __future__ import annotations

from processor.engines.base import Engine, PageResult
from processor.options import ConvertOptions, EngineName

__all__ = ["Engine", "PageResult", "create_engine"]


def create_engine(options: ConvertOptions) -> Engine:
    match options.engine:
        case EngineName.CPU:
            from processor.engines.cpu import CpuEngine

            return CpuEngine(options)
        case EngineName.PADDLEOCR_VL | EngineName.PP_STRUCTURE_V3:
            from processor.engines.paddle import PaddleEngine

            return PaddleEngine(options)
    raise ValueError(f"unknown engine {options.engine!r}; choose one of {[e.value for e in EngineName]}")
