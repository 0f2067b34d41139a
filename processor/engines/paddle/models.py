"""Which model directories each configured Paddle pipeline needs; fetch them; verify them.

Importing this module never imports paddle/paddlex: ``fetch`` imports paddlex lazily and uses its
own public downloader (the hosters and package names ``paddleocr`` would use). The CLI's
``docwatch models fetch|verify`` calls ``fetch``, ``verify`` and ``check``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processor.errors import EngineUnavailable
from processor.versions import package_version
from processor.options import ConvertOptions, EngineName, PaddleEngineOptions, VlBackend

# paddlex pipeline config names per PaddleOCR-VL pipeline version
VL_PIPELINE_NAMES = {"v1": "PaddleOCR-VL", "v1.5": "PaddleOCR-VL-1.5", "v1.6": "PaddleOCR-VL-1.6"}
# official model names, as in paddlex/configs/pipelines/<pipeline>.yaml (tests check they agree)
VL_LAYOUT_MODELS = {"v1": "PP-DocLayoutV2", "v1.5": "PP-DocLayoutV3", "v1.6": "PP-DocLayoutV3"}
VL_REC_MODELS = {"v1": "PaddleOCR-VL-0.9B", "v1.5": "PaddleOCR-VL-1.5-0.9B", "v1.6": "PaddleOCR-VL-1.6-0.9B"}
DOC_ORIENTATION_MODEL = "PP-LCNet_x1_0_doc_ori"
DOC_UNWARPING_MODEL = "UVDoc"

# PP-StructureV3 (paddlex/configs/pipelines/PP-StructureV3.yaml): (model, feature that needs it)
STRUCTURE_V3_MODELS: list[tuple[str, str | None]] = [
    ("PP-DocLayout_plus-L", None),
    ("PP-DocBlockLayout", None),
    ("PP-OCRv5_server_det", None),
    ("PP-LCNet_x1_0_textline_ori", None),
    ("PP-OCRv5_server_rec", None),
    ("PP-LCNet_x1_0_table_cls", None),
    ("SLANeXt_wired", None),
    ("SLANet_plus", None),
    ("RT-DETR-L_wired_table_cell_det", None),
    ("RT-DETR-L_wireless_table_cell_det", None),
    ("PP-FormulaNet_plus-L", None),
    (DOC_ORIENTATION_MODEL, None),  # also the table orientation classifier
    (DOC_UNWARPING_MODEL, "use_doc_unwarping"),
    ("PP-OCRv4_server_seal_det", "use_seal_recognition"),
    ("PP-Chart2Table", "use_chart_recognition"),
]

# files that make a directory a loadable paddlex model (paddlex inference/models/utils/model_paths.py)
MODEL_CONFIG_FILE = "inference.yml"
WEIGHT_FILE_SETS: list[tuple[str, ...]] = [
    ("inference.json", "inference.pdiparams"),
    ("inference.pdmodel", "inference.pdiparams"),
    ("model.safetensors",),
    ("model.safetensors.index.json",),  # sharded safetensors
    ("inference.pdparams",),
    ("model_state.pdparams",),
    ("inference.onnx",),
]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # official paddlex model name
    role: str  # what the pipeline uses it for
    option: str | None = None  # PaddleEngineOptions field that may point at an explicit dir

    @property
    def subdir(self) -> str:
        """Directory name under a model root (paddlex drops '-0.9B' for the VL models)."""
        return self.name.replace("-0.9B", "") if "PaddleOCR-VL" in self.name else self.name


@dataclass
class ModelStatus:
    spec: ModelSpec
    path: Path | None
    ok: bool
    problem: str | None = None

    def __str__(self) -> str:
        state = "ok" if self.ok else f"MISSING ({self.problem})"
        return f"{self.spec.name:<36} {self.spec.role:<28} {self.path or '-'}  {state}"


def paddle_options(options: ConvertOptions | PaddleEngineOptions | None) -> tuple[EngineName, PaddleEngineOptions]:
    if options is None:
        options = ConvertOptions(engine=EngineName.PADDLEOCR_VL)
    if isinstance(options, PaddleEngineOptions):
        return EngineName.PADDLEOCR_VL, options
    engine = options.engine if options.engine is not EngineName.CPU else EngineName.PADDLEOCR_VL
    return engine, options.paddle


def required_models(
    options: ConvertOptions | PaddleEngineOptions | None = None, *, everything: bool = False
) -> list[ModelSpec]:
    """Models the configured pipeline loads. ``everything``: also those behind switches that are
    off (what an image should carry so any switch can be turned on without a download)."""
    engine, p = paddle_options(options)
    if engine is EngineName.PP_STRUCTURE_V3:
        return [
            ModelSpec(name, "pp-structurev3")
            for name, feature in STRUCTURE_V3_MODELS
            if everything or feature is None or getattr(p, feature, False)
        ]
    version = p.pipeline_version
    if version not in VL_PIPELINE_NAMES:
        raise ValueError(f"unknown pipeline_version {version!r}; choose one of {list(VL_PIPELINE_NAMES)}")
    specs = []
    if everything or p.use_layout_detection:
        specs.append(ModelSpec(VL_LAYOUT_MODELS[version], "layout_detection", "layout_detection_model_dir"))
    if everything or p.vl_rec_backend is VlBackend.NATIVE:
        specs.append(ModelSpec(VL_REC_MODELS[version], "vl_recognition", "vl_rec_model_dir"))
    if everything or p.use_doc_orientation_classify:
        specs.append(
            ModelSpec(DOC_ORIENTATION_MODEL, "doc_orientation_classify", "doc_orientation_classify_model_dir")
        )
    if everything or p.use_doc_unwarping:
        specs.append(ModelSpec(DOC_UNWARPING_MODEL, "doc_unwarping", "doc_unwarping_model_dir"))
    return specs


def default_cache_home() -> Path:
    """Where paddlex keeps its cache (``PADDLE_PDX_CACHE_HOME``); docwatch pins it before import."""
    env = os.environ.get("PADDLE_PDX_CACHE_HOME")
    return Path(env) if env else Path.home() / ".cache" / "docwatch" / "paddlex"


def prepare_environment(cache_dir: Path | None = None) -> Path:
    """Set paddlex's env flags before it is imported: no hoster checks, a fixed cache home."""
    os.environ["PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"] = "True"
    cache = Path(os.environ.get("PADDLE_PDX_CACHE_HOME") or cache_dir or default_cache_home())
    os.environ["PADDLE_PDX_CACHE_HOME"] = str(cache)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineUnavailable(f"cannot create the paddlex cache {cache}: {exc}") from exc
    if "paddlex" in sys.modules:
        from paddlex.utils import flags

        if str(getattr(flags, "DISABLE_MODEL_SOURCE_CHECK", "")).lower() not in ("true", "1"):
            logging.getLogger(__name__).warning(
                "paddlex was imported before docwatch set PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"
            )
    return cache


def model_roots(paddle: PaddleEngineOptions) -> list[Path]:
    """Where ``<root>/<model>`` is looked for: the configured model_dir, else the paddlex cache.

    A root holds one directory per model under the names paddlex itself uses below
    ``$PADDLE_PDX_CACHE_HOME/official_models`` (``PP-DocLayoutV3/``, ``PaddleOCR-VL-1.5/``, ...),
    so a paddlex cache can serve as a model root too."""
    if paddle.model_dir is not None:
        return [Path(paddle.model_dir)]
    return [default_cache_home() / "official_models"]


def candidate_dirs(spec: ModelSpec, root: Path) -> list[Path]:
    base = root / spec.subdir
    # v1's official package nests the VL model: PaddleOCR-VL/PaddleOCR-VL-0.9B/
    if spec.name == "PaddleOCR-VL-0.9B":
        return [base / "PaddleOCR-VL-0.9B", base, root / spec.name]
    return [base]


def check_model_dir(path: Path) -> str | None:
    """None when ``path`` holds a loadable model, else what is wrong."""
    if not path.is_dir():
        return f"directory {path} does not exist"
    if not (path / MODEL_CONFIG_FILE).is_file():
        return f"{path} has no {MODEL_CONFIG_FILE}"
    for files in WEIGHT_FILE_SETS:
        if all((path / f).is_file() for f in files):
            return None
    wanted = " or ".join("+".join(s) for s in WEIGHT_FILE_SETS[:3])
    return f"{path} has no weights ({wanted})"


def resolve(spec: ModelSpec, paddle: PaddleEngineOptions) -> ModelStatus:
    """Find ``spec``'s directory: the explicit per-model option, else ``<root>/<model>``."""
    explicit = getattr(paddle, spec.option) if spec.option else None
    if explicit is not None:
        problem = check_model_dir(Path(explicit))
        return ModelStatus(spec, Path(explicit), problem is None, problem)
    first_problem = None
    tried = []
    for root in model_roots(paddle):
        for cand in candidate_dirs(spec, root):
            tried.append(cand)
            problem = check_model_dir(cand)
            if problem is None:
                return ModelStatus(spec, cand, True)
            if first_problem is None and cand.exists():
                first_problem = problem
    expected = tried[0] if tried else None
    return ModelStatus(spec, expected, False, first_problem or f"directory {expected} does not exist")


class ModelReport(list):
    """ModelStatus per model; ``ok`` when every one is usable; ``str()`` is a readable table."""

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self)

    def __str__(self) -> str:
        if not self:
            return "no local models needed for this configuration"
        return format_report(self)


def _split_args(a: Any, b: Any) -> tuple[ConvertOptions | PaddleEngineOptions | None, Path | None]:
    """Accept (options, path) or (path, options)."""
    if isinstance(a, (str, os.PathLike)) and not isinstance(b, (str, os.PathLike)):
        a, b = b, a
    return a, (Path(b) if b is not None else None)


def verify(options: Any = None, root: Any = None) -> ModelReport:
    """Check every model the configured pipeline needs: its directory exists with inference files.

    ``root`` overrides ``options.paddle.model_dir``. With a server VL backend the VL model is not
    needed locally; with ``use_layout_detection=False`` neither is the layout model.
    """
    options, root = _split_args(options, root)
    engine, p = paddle_options(options)
    if root is not None:
        p = p.model_copy(update={"model_dir": root})
    return ModelReport(resolve(spec, p) for spec in required_models(ConvertOptions(engine=engine, paddle=p)))


def check(options: Any = None, root: Any = None) -> str:
    """``verify`` for health checks: the report text, or RuntimeError naming what is missing."""
    report = verify(options, root)
    if not report.ok:
        raise RuntimeError(str(report))
    return str(report)


def fetch(
    options: Any = None,
    cache_home: Any = None,
    *,
    everything: bool = True,
    log: Callable[[str], None] = print,
    lock: Path | None = None,
    record_lock: bool = False,
) -> ModelReport:
    """Download the official models the configured pipeline can use into
    ``<cache_home>/official_models/<model>/`` (``cache_home``: ``PADDLE_PDX_CACHE_HOME``).

    Uses paddlex's own public downloader (``official_models[name]``: the hosters and packages
    ``paddleocr`` itself uses; ``PADDLE_PDX_MODEL_SOURCE`` picks the first tried) with
    ``PADDLE_PDX_CACHE_HOME`` pointed at ``cache_home``. Models already present are kept. With
    ``lock`` every model's files must match the sha256s pinned there (``record_lock``: pin what
    was fetched instead). Raises ``RuntimeError`` when any model could not be fetched, is
    incomplete or does not match its pins, so an image build fails loudly.
    """
    options, cache_home = _split_args(options, cache_home)
    cache = Path(cache_home) if cache_home is not None else default_cache_home()
    root = cache / "official_models"
    engine, p = paddle_options(options)
    specs = required_models(ConvertOptions(engine=engine, paddle=p), everything=everything)
    p_root = p.model_copy(update={"model_dir": root, **_no_explicit_dirs()})
    download = None
    failures = []
    for spec in specs:
        present = resolve(spec, p_root)
        if present.ok:
            log(f"have  {spec.name} -> {present.path}")
            continue
        log(f"fetch {spec.name} ...")
        download = download or _paddlex_download(cache)
        try:
            path = Path(download(spec.name))
        except Exception as exc:  # noqa: BLE001 - paddlex raises bare Exception when every hoster fails
            failures.append(f"{spec.name}: {exc}")
            continue
        log(f"got   {spec.name} -> {path}")
    statuses = ModelReport(resolve(spec, p_root) for spec in specs)
    failures += [f"{s.spec.name}: {s.problem}" for s in statuses if not s.ok]
    if lock is not None and not failures:
        failures += _check_lock(Path(lock), statuses, record_lock, log)
    if failures:
        raise RuntimeError("model fetch failed:\n  " + "\n  ".join(failures))
    return statuses


def _check_lock(path: Path, statuses: ModelReport, record: bool, log: Callable[[str], None]) -> list[str]:
    from processor.engines.paddle import model_lock

    pins = model_lock.load(path)
    out = []
    for status in statuses:
        assert status.path is not None
        if record:
            model_lock.record(pins, status.spec.name, status.path)
            log(f"pinned {status.spec.name}: {len(pins['models'][status.spec.name])} files")
        else:
            out += model_lock.problems(pins, status.spec.name, status.path)
    if record:
        pins["paddlex"] = package_version("paddlex")
        model_lock.save(path, pins)
        log(f"wrote {path}")
    elif not out:
        log(f"every file matches its sha256 in {path}")
    return out


def format_report(statuses: Iterable[ModelStatus]) -> str:
    return "\n".join(str(s) for s in statuses)


def _no_explicit_dirs() -> dict:
    return {
        "layout_detection_model_dir": None,
        "vl_rec_model_dir": None,
        "doc_orientation_classify_model_dir": None,
        "doc_unwarping_model_dir": None,
    }


def _paddlex_download(cache: Path) -> Callable[[str], Any]:
    """paddlex's public model downloader, saving under ``cache/official_models``: paddlex reads
    ``PADDLE_PDX_CACHE_HOME`` when it is imported, so it is set first and checked after."""
    os.environ["PADDLE_PDX_CACHE_HOME"] = str(cache)
    from paddlex.inference.utils.official_models import official_models
    from paddlex.utils.cache import CACHE_DIR

    if Path(CACHE_DIR).resolve() != cache.resolve():
        raise RuntimeError(f"paddlex was imported with PADDLE_PDX_CACHE_HOME={CACHE_DIR}, not {cache}")
    return lambda name: official_models[name]
