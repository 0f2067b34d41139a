"""Deployment files for event intake parse and agree with the code: the AWS queue, its policy and
dead-letter queue; the bucket notification (MinIO's webhook targets in compose: tests/test_deploy_compose.py;
the KEDA scalers: tests/test_deploy_k8s.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import yaml
from botocore.validate import ParamValidator

try:
    from tests.test_deploy import assert_known_setting, env_names_in
except ImportError:
    from test_deploy import assert_known_setting, env_names_in  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def test_aws_queue_policy_and_dead_letter_queue() -> None:
    cfn = yaml.safe_load((DEPLOY / "aws" / "s3-events.cfn.yaml").read_text())
    res = cfn["Resources"]
    queues = {name for name, r in res.items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues == {"EventQueue", "DeadLetterQueue"}
    redrive = res["EventQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"} and cfn["Parameters"]["MaxReceiveCount"]["Default"] >= 3
    assert res["EventQueue"]["Properties"]["ReceiveMessageWaitTimeSeconds"] == 20
    (send,) = res["EventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "s3.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
    assert send["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::Sub": "arn:aws:s3:::${InputBucket}"}
    assert "aws:SourceAccount" in send["Condition"]["StringEquals"]
    # the consumer policy grants exactly the SQS calls docwatch makes
    (grant,) = [st for st in res["ConsumerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                if "Action" in st and "sqs:ReceiveMessage" in st["Action"]]
    calls = set(re.findall(r"_client\.(\w+)\(", (ROOT / "watcher" / "sources" / "sqs.py").read_text()))
    needed = {"sqs:" + "".join(w.title() for w in c.removesuffix("_batch").split("_")) for c in calls}
    assert needed == set(grant["Action"]), (needed, grant["Action"])


def test_bucket_notification_is_a_valid_request() -> None:
    body = json.loads((DEPLOY / "aws" / "bucket-notification.json").read_text())
    shape = botocore.session.get_session().get_service_model("s3").operation_model(
        "PutBucketNotificationConfiguration").input_shape.members["NotificationConfiguration"]
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
    (q,) = body["QueueConfigurations"]
    assert set(q["Events"]) == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}


def test_deploy_readme_covers_events() -> None:
    text = (DEPLOY / "README.md").read_text()
    for needle in ("DOCWATCH_EVENTS__SQS_QUEUE_URL", "DOCWATCH_RECONCILE_INTERVAL", "dead-letter", "s3-events.cfn.yaml",
                   "bucket-notification.json", "notify_webhook", "mc event add", "scaledobject-sqs.yaml",
                   "scaledobject-prometheus.yaml", "malformed"):
        assert needle in text, needle
    for name in env_names_in(text):
        assert_known_setting(name)
