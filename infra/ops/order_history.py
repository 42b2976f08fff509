#!/usr/bin/env python3
"""Everything the app knows about one order of one tenant, as one JSON document (runbook: "Find
everything about one order").

    .venv/bin/python infra/ops/order_history.py --table "$TABLE" --tenant T --order O \
        [--log-group "/aws/lambda/$STACK" [--since-hours 72]] [--log-dir .local/logs]

From the payments table: the order's alias, the payment, its refunds, the inbox of webhooks waiting for
it, and every operation (command, webhook, checkout call) on the payment with the messages it
published, oldest first. From the logs: every line whose top-level `tenant` and `orderReference` name
the order, from CloudWatch Logs Insights (`--log-group`) or from the local stack's function logs
(`--log-dir`). Reads only; needs boto3 (in the project's .venv) and, on AWS, `dynamodb:GetItem`,
`dynamodb:Query`, `dynamodb:Scan` on the table and `logs:StartQuery`, `logs:GetQueryResults`.
The endpoint follows `AWS_ENDPOINT_URL` (moto locally), like the functions.
"""

import argparse
import decimal
import json
import pathlib
import sys
import time

import boto3
from boto3.dynamodb.conditions import Attr, Key


def part(value):
    """A tenant or order as the table's keys write it (`#` and `%` escaped)."""
    return value.replace("%", "%25").replace("#", "%23")


def plain(value):
    """DynamoDB's numbers as JSON numbers."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [plain(v) for v in value]
    return value


def operation_summary(item):
    """An operation record without its internals (lease token, fingerprint), its outbox by message."""
    events = []
    for event in item.get("events", []):
        detail = json.loads(event.get("detail") or "{}")
        attributes = detail.get("messageAttributes", {})
        events.append({
            "eventId": event.get("event_id"),
            "message": event.get("detail_type"),
            "at": attributes.get("timestamp"),
            "correlationId": attributes.get("correlationId"),
            "payload": detail.get("payload", detail),
        })
    keep = ("key", "state", "attempts", "failed", "outcome_unknown", "published", "attention", "lease_until")
    summary = {k: item[k] for k in keep if k in item}
    if item.get("request"):
        # A command's stored message: its name and correlation id (what the shop sent).
        attributes = json.loads(item["request"]).get("attributes", {})
        summary["command"] = attributes.get("transferName")
        summary["correlationId"] = attributes.get("correlationId")
    summary["at"] = next((e["at"] for e in events if e["at"]), None)
    summary["events"] = events
    return summary


def table_history(table, tenant, order):
    """The order's items in the payments table."""
    alias = table.get_item(Key={"pk": f"TENANT#{part(tenant)}#ORDER#{part(order)}", "sk": "ORDER"},
                           ConsistentRead=True).get("Item")
    history = {"tenant": tenant, "order": order, "transactionId": None, "payment": None, "refunds": [],
               "inbox": [], "operations": []}
    if not alias:
        return history
    tx = alias["transaction_id"]
    history["transactionId"] = tx
    items = table.query(KeyConditionExpression=Key("pk").eq(f"TENANT#{part(tenant)}#PAYMENT#{part(tx)}"),
                        ConsistentRead=True)["Items"]
    for item in items:
        item.pop("op_lease", None)
        if item["sk"] == "PAYMENT":
            history["payment"] = item
        elif item["sk"].startswith("REFUND#"):
            history["refunds"].append(item)
    history["inbox"] = table.query(
        KeyConditionExpression=Key("pk").eq(f"TENANT#{part(tenant)}#INBOX#{part(tx)}"))["Items"]
    # Operations are keyed by their own key; the payment is an attribute: a filtered scan (the table
    # keeps operation records 30 days).
    scan = {"FilterExpression": Attr("sk").eq("OP") & Attr("tenant").eq(tenant) & Attr("payment").eq(tx)}
    operations = []
    while True:
        page = table.scan(**scan)
        operations.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    # Oldest first: by the time of the first message published, else by the record's expiry.
    summaries = [(op.get("expires_at", 0), operation_summary(op)) for op in operations]
    summaries.sort(key=lambda pair: (pair[1]["at"] or "", pair[0]))
    history["operations"] = [summary for _, summary in summaries]
    return plain(history)


def is_order_line(line, tenant, order):
    return line.get("tenant") == tenant and line.get("orderReference") == order


def local_logs(log_dir, tenant, order):
    """The order's lines in the local stack's function logs (`lambda-<Function>.log`)."""
    found = []
    for path in sorted(pathlib.Path(log_dir).glob("lambda-*.log")):
        function = path.stem.removeprefix("lambda-")
        for text in path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and is_order_line(line, tenant, order):
                found.append({"function": function, **line})
    return found


def cloudwatch_logs(group, since_hours, tenant, order):
    """The order's lines in the stack's log group, through Logs Insights."""
    logs = boto3.client("logs")
    now = int(time.time())
    query = ("fields @timestamp, @logStream, level, requestId, messageId, correlationId, fields.message"
             f" | filter tenant = {json.dumps(tenant)} and orderReference = {json.dumps(order)}"
             " | sort @timestamp asc | limit 10000")
    query_id = logs.start_query(logGroupName=group, startTime=now - since_hours * 3600, endTime=now,
                                queryString=query)["queryId"]
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
            break
        time.sleep(1)
    return [{field["field"]: field["value"] for field in row} for row in answer.get("results", [])]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="the stack's PaymentsTable")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--order", required=True, help="the order reference")
    parser.add_argument("--log-group", help="the stack's function log group (CloudWatch Logs Insights)")
    parser.add_argument("--since-hours", type=int, default=72, help="how far back the log query reaches")
    parser.add_argument("--log-dir", help="the local stack's function logs (.local/logs)")
    args = parser.parse_args(argv)
    history = table_history(boto3.resource("dynamodb").Table(args.table), args.tenant, args.order)
    if args.log_group:
        history["logs"] = cloudwatch_logs(args.log_group, args.since_hours, args.tenant, args.order)
    elif args.log_dir:
        history["logs"] = local_logs(args.log_dir, args.tenant, args.order)
    json.dump(history, sys.stdout, indent=2, default=str)
    print()
    return 0 if history["transactionId"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
