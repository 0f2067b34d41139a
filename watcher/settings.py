"""Settings: ``DOCWATCH_*`` env vars (nested with ``__``) and an optional TOML file.

Precedence: command-line flags > env vars > the file named by ``DOCWATCH_CONFIG`` (or
``--config``) > defaults. Credentials are never settings: S3 uses boto3's own chain.
"""

from __future__ import annotations

import os
import socket
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from processor.options import ConvertOptions, EngineName, split_list


class InputAction(StrEnum):
    LEAVE = "leave"
    MOVE = "move"  # copy to done/ or failed/ under the input root, then delete the original


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    AUTO = "auto"  # console on a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


class S3Settings(BaseModel):
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; AWS_ENDPOINT_URL works too")
    region: str | None = Field(None, description="region name; the boto3 chain decides when unset")
    addressing_style: str = Field("auto", description="'auto', 'path' or 'virtual'")
    max_attempts: int = Field(8, ge=1, description="botocore retry attempts per request")
    retry_mode: str = Field("adaptive", description="botocore retry mode: 'standard' or 'adaptive'")
    connect_timeout: float = Field(10.0, description="seconds to connect to S3")
    read_timeout: float = Field(60.0, description="seconds to wait for an S3 response")
    multipart_threshold_mb: int = Field(16, ge=5, description="unconditional writes (state objects under _docwatch/) larger than this use multipart upload; outputs never do (each is one conditional PUT)")
    profile: str | None = Field(None, description="AWS profile name (credentials stay in the AWS config)")
    # Only used when the user chooses to put keys in docwatch's own env/file; never logged.
    access_key_id: SecretStr | None = Field(None, description="only if you must keep keys here; prefer the AWS chain (env, profile, IRSA). Never logged")
    secret_access_key: SecretStr | None = Field(None, description="as above; never logged")


class EventsSettings(BaseModel):
    """Event intake for an S3 input: the listing then only reconciles (see reconcile_interval)."""

    sqs_queue_url: str | None = Field(
        None, description="SQS queue with the input bucket's S3 event notifications (direct, SNS or EventBridge); turns events on"
    )
    sqs_endpoint_url: str | None = Field(None, description="SQS endpoint; AWS_ENDPOINT_URL works too")
    sqs_wait_seconds: int = Field(20, ge=0, le=20, description="SQS long-poll wait")
    sqs_visibility_seconds: int = Field(
        60, ge=5, le=43200, description="a received message is hidden this long from other replicas; extended while held"
    )
    sqs_max_messages: int = Field(1, ge=1, le=10, description="messages per receive; 1 leaves the rest to other replicas")
    webhook_token: SecretStr | None = Field(
        None, description="turns on POST /events on the health port (MinIO/Ceph webhook); callers send 'Authorization: Bearer <token>'. Never logged"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.sqs_queue_url or self.webhook_token)


class NotifySettings(BaseModel):
    """Completion events: one JSON message per document whose manifest becomes final, to any of
    an SQS queue, an SNS topic and an HTTP webhook (at least once; duplicates carry the same id)."""

    sqs_queue_url: str | None = Field(None, description="SQS queue that receives completion events")
    sns_topic_arn: str | None = Field(None, description="SNS topic that receives completion events")
    webhook_url: str | None = Field(None, description="URL that receives completion events by POST (signed, see README)")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for the webhook's X-Docwatch-Signature header. Never logged"
    )
    endpoint_url: str | None = Field(None, description="SQS/SNS endpoint; AWS_ENDPOINT_URL works too")
    scan_interval: float = Field(
        60.0, gt=0, description="seconds between looks for events not yet delivered (after a crash or an outage)"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.sqs_queue_url or self.sns_topic_arn or self.webhook_url)


class ConfigFileError(Exception):
    """The file named by ``--config`` / ``DOCWATCH_CONFIG`` is missing or not valid TOML."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings, ConvertOptions):
    """Everything docwatch reads at start. The conversion options (engine, cpu, paddle,
    figure_dpi, max_pages, ...) are ``ConvertOptions``' own fields, declared once there with their
    limits: their env names stay flat (``DOCWATCH_ENGINE``, ``DOCWATCH_CPU__OCR_DPI``)."""

    model_config = SettingsConfigDict(
        env_prefix="DOCWATCH_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    input: str | None = Field(None, description="input folder or s3://bucket/prefix/")
    output: str | None = Field(None, description="output folder or s3://bucket/prefix/")

    poll_interval: float = Field(
        10.0, gt=0, description="seconds between listings (local: safety re-scan; events on: between re-queue checks)"
    )
    reconcile_interval: float = Field(900.0, gt=0, description="events on: seconds between backstop listings (one at start)")
    settle_seconds: float = Field(2.0, ge=0, description="a local file must keep its size this long")
    min_age_seconds: float = Field(0.0, ge=0, description="S3 objects younger than this wait")
    include: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], description="glob patterns: with a '/' on the whole key, else on the file name"
    )
    exclude: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*.part", "*.tmp", "*.crdownload", "~*", ".*"],
        description="glob patterns: with a '/' on the whole key, else on the file and folder names",
    )

    concurrency: int | None = Field(
        None, ge=1, le=256,
        description="documents in flight at once, sharing the engine; default per engine: cpu 2 "
        "(fetch and publish overlap the page workers), paddle paddle.pages_in_flight (64: one-page "
        "documents fill the pipelines' batches)",
    )
    worker_id: str = Field(default_factory=default_worker_id, description="this replica's name in manifests and logs")
    lease_seconds: float = Field(60.0, ge=5, description="a claim expires this long after its last renewal")
    max_attempts: int = Field(3, ge=1, description="tries for a retryable failure")
    max_lapses: int = Field(
        5, ge=1, description="attempts that may end with the worker killed or cut off before the document fails (WorkerLost)"
    )
    retry_backoff_seconds: float = Field(
        30.0, ge=0, description="bound of the first retry delay (doubling each time; each delay drawn below its bound)"
    )
    page_timeout_seconds: float = Field(
        120.0, gt=0, description="page watchdog: no page finished for this long while pages are in flight ends the "
        "engine and the attempt is retried; a conversion's budget is also pages x this (capped by "
        "document_timeout_seconds)",
    )
    document_timeout_seconds: float | None = Field(
        None, gt=0, description="optional hard cap on one conversion, whatever its page count"
    )
    engine_load_timeout_seconds: float = Field(
        900.0, gt=0, description="an engine (re)load taking longer is killed and counts as failed"
    )
    engine_dead_after_seconds: float = Field(
        300.0, gt=0, description="after an engine restart fails, /healthz fails once it stays down this long"
    )
    shutdown_grace_seconds: float = Field(
        30.0, ge=0, description="on SIGTERM, time to finish the document in hand before releasing it"
    )
    verify_interval: float | None = Field(
        None, gt=0, description="seconds between checks that every published output is the bytes its manifest "
        "records; a mismatch queues the document again (unset: only `docwatch verify`)",
    )
    single_replica: bool = Field(
        False, description="allow a store without conditional writes; only ever run one replica then"
    )

    on_success: InputAction = Field(InputAction.LEAVE, description="leave the input, or move it under done_prefix once its manifest is written")
    on_failure: InputAction = Field(InputAction.LEAVE, description="leave the input, or move it under failed_prefix once its manifest is written")
    done_prefix: str = Field("done/", description="where moved inputs go after success (inside the input root)")
    failed_prefix: str = Field("failed/", description="where moved inputs go after a final failure (inside the input root)")

    s3: S3Settings = Field(default_factory=S3Settings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    health_host: str = Field("0.0.0.0", description="address of the HTTP endpoint")
    health_port: int = Field(8081, ge=0, le=65535, description="0 disables the HTTP endpoint")

    log_level: LogLevel = Field(LogLevel.INFO, description="debug, info, warning, error")
    log_format: LogFormat = Field(LogFormat.AUTO, description="auto (console on a terminal, JSON otherwise), json, console")

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        return split_list(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config := os.environ.get("DOCWATCH_CONFIG"):
            if not Path(config).is_file():
                raise ConfigFileError(f"{config} does not exist or is not a file")
            try:
                tomllib.loads(Path(config).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigFileError(f"{config} cannot be read as TOML: {exc}") from None
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    @property
    def documents_in_flight(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return 2 if self.engine is EngineName.CPU else self.paddle.pages_in_flight

    def convert_options(self) -> ConvertOptions:
        """The conversion options alone (what the engine child and ``convert`` take)."""
        return ConvertOptions.model_validate({name: getattr(self, name) for name in ConvertOptions.model_fields})


def load_settings(config: Path | None = None, **overrides: object) -> Settings:
    if config is not None:
        os.environ["DOCWATCH_CONFIG"] = str(config)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
