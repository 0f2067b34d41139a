"""Engine factory: checked, and imports each engine's module only when it is asked for."""

from __future__ import annotations

from processor.engines.base import Engine, PageResult
from processor.options import ConvertOptions, EngineName

__all__ = ["Engine", "PageResult", "create_engine"]


def create_engine(options: ConvertOptions) -> Engine:
    if options.engine_class:
        return _plugged_in(options.engine_class)(options)
    match options.engine:
        case EngineName.CPU:
            from processor.engines.cpu import CpuEngine

            return CpuEngine(options)
        case EngineName.PADDLEOCR_VL | EngineName.PP_STRUCTURE_V3:
            from processor.engines.paddle.engine import PaddleEngine

            return PaddleEngine(options)
    raise ValueError(f"unknown engine {options.engine!r}; choose one of {[e.value for e in EngineName]}")


def _plugged_in(spec: str) -> type[Engine]:
    """``module:Class``: an Engine from outside this package (a plug-in, or a test engine)."""
    from importlib import import_module

    module, _, name = spec.partition(":")
    cls = getattr(import_module(module), name, None) if module and name else None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ValueError(f"engine_class {spec!r} is not module:Class of an Engine subclass")
    return cls
