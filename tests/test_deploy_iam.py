"""Least privilege, checked against what docwatch really calls: ``docwatch run`` against moto's
server (S3 + SQS) with every botocore call recorded (a sitecustomize registers
``provide-client-params.*.*`` on each client botocore creates in the subprocess), once polling
with inputs moved after success and failure, once taking S3 events from SQS. Each call is mapped
to the IAM action and resource AWS authorizes it with, and deploy/aws/iam-policy.json must allow
it; the CloudFormation ManagedPolicy, rendered with the same names, must be the same policy."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml

try:
    from tests.docs import make_text_pdf
    from tests.s3_server import MotoS3, moto_s3
except ImportError:
    from docs import make_text_pdf  # type: ignore[no-redef]
    from s3_server import MotoS3, moto_s3  # type: ignore[no-redef] # noqa: F401

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "deploy" / "aws" / "iam-policy.json"
CFN = ROOT / "deploy" / "aws" / "s3-events.cfn.yaml"
INPUT, OUTPUT, PREFIX, QUEUE = "incoming", "converted", "scans/", "docwatch-events-EventQueue"
POLICY_ACCOUNT, MOTO_ACCOUNT = "111122223333", "123456789012"

RECORDER = """
import json, os, threading
import botocore.session

_path, _lock, _create = os.environ["DOCWATCH_TEST_AWS_CALLS"], threading.Lock(), botocore.session.Session.create_client
_KEEP = ("Bucket", "Key", "Prefix", "QueueUrl", "CopySource", "Delete")


def _record(params, model, **_):
    call = {"service": model.service_model.service_name, "operation": model.name,
            **{k: params[k] for k in _KEEP if k in params}}
    with _lock, open(_path, "a") as f:
        f.write(json.dumps(call, default=str) + "\\n")


def create_client(self, *args, **kwargs):
    client = _create(self, *args, **kwargs)
    client.meta.events.register("provide-client-params.*.*", _record)
    return client


botocore.session.Session.create_client = create_client
"""

S3_OBJECT_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
SQS_ACTIONS = {
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}


def authorizations(call: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(action, resource ARN, condition keys) AWS checks for one API call."""
    op = call["operation"]
    if call["service"] == "sqs":
        account, name = call["QueueUrl"].rstrip("/").split("/")[-2:]
        return [(SQS_ACTIONS[op], f"arn:aws:sqs:us-east-1:{account}:{name}", {})]
    assert call["service"] == "s3", call
    if op in ("ListObjectsV2", "ListObjects"):
        return [
            (
                "s3:ListBucket",
                f"arn:aws:s3:::{call['Bucket']}",
                {"s3:prefix": call["Prefix"]} if "Prefix" in call else {},
            )
        ]
    if op in ("CopyObject", "UploadPartCopy"):
        src = call["CopySource"]
        return [
            ("s3:PutObject", f"arn:aws:s3:::{call['Bucket']}/{call['Key']}", {}),
            ("s3:GetObject", f"arn:aws:s3:::{src['Bucket']}/{src['Key']}", {}),
        ]
    if op == "DeleteObjects":
        return [
            ("s3:DeleteObject", f"arn:aws:s3:::{call['Bucket']}/{o['Key']}", {})
            for o in call["Delete"]["Objects"]
        ]
    assert op in S3_OBJECT_ACTIONS, f"docwatch calls S3 {op}: map it to its IAM action here and grant it"
    return [(S3_OBJECT_ACTIONS[op], f"arn:aws:s3:::{call['Bucket']}/{call['Key']}", {})]


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def allowed(policy: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    for st in policy["Statement"]:
        if st["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(st["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(st["Resource"])):
            continue
        conditions = st.get("Condition", {})
        assert set(conditions) <= {"StringLike"}, conditions
        if all(
            key in context and any(fnmatch.fnmatchcase(context[key], p) for p in as_list(patterns))
            for key, patterns in conditions.get("StringLike", {}).items()
        ):
            return True
    return False


def policy_for_moto() -> dict:
    return json.loads(POLICY.read_text().replace(POLICY_ACCOUNT, MOTO_ACCOUNT))


def test_policy_is_narrow_and_the_evaluation_can_deny() -> None:
    policy = json.loads(POLICY.read_text())
    for st in policy["Statement"]:
        assert (
            st["Effect"] == "Allow"
            and "*" not in as_list(st["Action"])
            and "*" not in as_list(st["Resource"])
        )
        assert not any(a.endswith(":*") for a in as_list(st["Action"]))
    p = policy_for_moto()
    assert allowed(p, "s3:GetObject", f"arn:aws:s3:::{INPUT}/{PREFIX}a.pdf", {})
    assert not allowed(
        p, "s3:PutObject", f"arn:aws:s3:::{INPUT}/{PREFIX}a.pdf", {}
    )  # inputs: only done/, failed/
    assert not allowed(p, "s3:GetObject", f"arn:aws:s3:::{INPUT}/other/a.pdf", {})
    assert not allowed(p, "s3:ListBucket", f"arn:aws:s3:::{INPUT}", {"s3:prefix": "other/"})
    assert not allowed(p, "s3:ListBucket", f"arn:aws:s3:::{INPUT}", {})
    assert not allowed(p, "s3:DeleteBucket", f"arn:aws:s3:::{OUTPUT}", {})
    assert not allowed(p, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{QUEUE}", {})


def test_cloudformation_policy_is_the_same() -> None:
    cfn = yaml.safe_load(CFN.read_text())
    params = {"InputBucket": INPUT, "InputPrefix": PREFIX, "OutputBucket": OUTPUT, "OutputPrefix": PREFIX}
    assert set(params) <= set(cfn["Parameters"]) and cfn["Parameters"]["InputMoves"]["Default"] == "false"
    queue_arn = f"arn:aws:sqs:us-east-1:{POLICY_ACCOUNT}:{QUEUE}"

    def render(node: object, moves: bool) -> object:
        if isinstance(node, list):
            return [r for r in (render(n, moves) for n in node) if r is not None]
        if not isinstance(node, dict):
            return node
        if "Fn::Sub" in node:
            text = node["Fn::Sub"]
            for k, v in params.items():
                text = text.replace("${" + k + "}", v)
            assert "${" not in text, text
            return text
        if node == {"Fn::GetAtt": ["EventQueue", "Arn"]}:
            return queue_arn
        if "Fn::If" in node:
            cond, yes, no = node["Fn::If"]
            assert cond == "MovesInputs" and no == {"Ref": "AWS::NoValue"}
            return render(yes, moves) if moves else None
        return {k: render(v, moves) for k, v in node.items()}

    doc = cfn["Resources"]["ConsumerPolicy"]
    assert doc["Type"] == "AWS::IAM::ManagedPolicy"
    rendered = render(doc["Properties"]["PolicyDocument"], moves=True)
    assert rendered == json.loads(POLICY.read_text())
    without_moves = render(doc["Properties"]["PolicyDocument"], moves=False)
    assert not allowed(without_moves, "s3:DeleteObject", f"arn:aws:s3:::{INPUT}/{PREFIX}a.pdf", {})


# ---------------------------------------------------------------------------------------------
# recorded runs


def fresh_buckets(moto: MotoS3) -> object:
    s3 = moto.client()
    for bucket in (INPUT, OUTPUT):
        s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # type: ignore[attr-defined]
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])  # type: ignore[attr-defined]
    s3.put_bucket_notification_configuration(Bucket=INPUT, NotificationConfiguration={})  # type: ignore[attr-defined]
    return s3


def start(tmp: Path, moto: MotoS3, **env: str) -> tuple[subprocess.Popen, Path, Path]:
    (tmp / "site").mkdir(exist_ok=True)
    (tmp / "site" / "sitecustomize.py").write_text(RECORDER)
    calls, log = tmp / "calls.jsonl", tmp / "daemon.log"
    environ = {
        **os.environ,
        "PYTHONPATH": f"{tmp / 'site'}{os.pathsep}{ROOT}",
        "DOCWATCH_TEST_AWS_CALLS": str(calls),
        "DOCWATCH_S3__ENDPOINT_URL": moto.url,
        "DOCWATCH_S3__ADDRESSING_STYLE": "path",
        "DOCWATCH_ENGINE": "cpu",
        "DOCWATCH_HEALTH_PORT": "0",
        "DOCWATCH_LOG_FORMAT": "json",
        "DOCWATCH_WORKER_ID": "iam",
        "DOCWATCH_SHUTDOWN_GRACE_SECONDS": "5",
        "DOCWATCH_CPU__PAGE_WORKERS": "1",
        **env,
    }
    cmd = [
        sys.executable,
        "-m",
        "watcher",
        "run",
        "--input",
        f"s3://{INPUT}/{PREFIX}",
        "--output",
        f"s3://{OUTPUT}/{PREFIX}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp, env=environ, stdout=out, stderr=subprocess.STDOUT)
    return proc, calls, log


def logged(log: Path, event: str) -> list[dict]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and (e := json.loads(line)).get("event") == event:
            found.append(e)
    return found


def wait(what, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"timed out: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def check_calls(calls: Path) -> set[str]:
    policy = policy_for_moto()
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    denied = [
        (c["operation"], a, r)
        for c in recorded
        for a, r, ctx in authorizations(c)
        if not allowed(policy, a, r, ctx)
    ]
    assert not denied, f"calls deploy/aws/iam-policy.json does not allow: {sorted(set(denied))}"
    return {c["operation"] for c in recorded}


def test_polling_run_with_input_moves_needs_only_the_policy(moto_s3: MotoS3, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_s3)
    make_text_pdf(tmp_path / "good.pdf", ["A document that converts.", "Its second page."])
    s3.put_object(Bucket=INPUT, Key=f"{PREFIX}sub/good.pdf", Body=(tmp_path / "good.pdf").read_bytes())  # type: ignore[attr-defined]
    s3.put_object(Bucket=INPUT, Key=f"{PREFIX}bad.pdf", Body=b"not a PDF at all")  # type: ignore[attr-defined]
    proc, calls, log = start(
        tmp_path,
        moto_s3,
        DOCWATCH_POLL_INTERVAL="0.5",
        DOCWATCH_SETTLE_SECONDS="0",
        DOCWATCH_ON_SUCCESS="move",
        DOCWATCH_ON_FAILURE="move",
        DOCWATCH_MAX_ATTEMPTS="1",
    )
    try:
        wait(lambda: len(logged(log, "input.moved")) == 2, proc, log)
        time.sleep(1.5)  # a few more polls and lease work after the moves
    finally:
        stop(proc)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=INPUT)["Contents"]}  # type: ignore[attr-defined]
    assert keys == {f"{PREFIX}done/sub/good.pdf", f"{PREFIX}failed/bad.pdf"}
    ops = check_calls(calls)
    assert {"ListObjectsV2", "HeadObject", "GetObject", "PutObject", "CopyObject", "DeleteObject"} <= ops, ops


def test_sqs_event_run_needs_only_the_policy(moto_s3: MotoS3, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_s3)
    sqs = boto3.client("sqs", endpoint_url=moto_s3.url, region_name="us-east-1")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=INPUT,
        NotificationConfiguration={
            "QueueConfigurations": [  # type: ignore[attr-defined]
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    proc, calls, log = start(
        tmp_path,
        moto_s3,
        DOCWATCH_POLL_INTERVAL="3600",
        DOCWATCH_RECONCILE_INTERVAL="3600",
        DOCWATCH_EVENTS__SQS_QUEUE_URL=url,
        AWS_ENDPOINT_URL=moto_s3.url,
        DOCWATCH_EVENTS__SQS_WAIT_SECONDS="1",
        DOCWATCH_EVENTS__SQS_VISIBILITY_SECONDS="5",
        DOCWATCH_MIN_AGE_SECONDS="8",
    )
    try:
        wait(lambda: bool(logged(log, "listing.reconciled")), proc, log)
        # younger than DOCWATCH_MIN_AGE_SECONDS: its message is held (and its visibility
        # extended: ChangeMessageVisibility) until the object is old enough to be claimed
        make_text_pdf(tmp_path / "evented.pdf", ["Announced by S3 through SQS."])
        s3.put_object(Bucket=INPUT, Key=f"{PREFIX}evented.pdf", Body=(tmp_path / "evented.pdf").read_bytes())  # type: ignore[attr-defined]
        wait(lambda: len(logged(log, "document.succeeded")) == 1, proc, log)
    finally:
        stop(proc)
    ops = check_calls(calls)
    assert {"GetQueueAttributes", "ReceiveMessage", "ChangeMessageVisibilityBatch"} <= ops, ops
    assert ops & {"DeleteMessage", "DeleteMessageBatch"}, ops
    assert [e["key"] for e in logged(log, "document.convert.start")] == ["evented.pdf"]
