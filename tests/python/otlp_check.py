"""Parses an OTLP/JSON file with the official opentelemetry-proto package.

OTLP/JSON writes trace and span ids in hex, where the protobuf JSON mapping
would have base64 (the OTLP specification's one deviation), so the ids are
turned into base64 first, as an OTLP/JSON receiver does. Prints a JSON
summary for the Rust test to compare: spans with their ids' byte lengths,
names, parents, kinds and integer attributes.
"""

import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData


def hex_ids_to_base64(node):
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for value in node:
            hex_ids_to_base64(value)


def main(path):
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    hex_ids_to_base64(document)
    traces = json_format.Parse(json.dumps(document), TracesData())
    spans = []
    for resource in traces.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                ints = {
                    a.key: a.value.int_value
                    for a in span.attributes
                    if a.value.WhichOneof("value") == "int_value"
                }
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "links": len(span.links),
                        "ints": ints,
                    }
                )
    json.dump({"spans": spans}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
