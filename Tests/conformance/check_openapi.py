#!/usr/bin/env python3
"""Checks openapi/openapi.yaml against what the API really does.

Usage:
    python3 Tests/conformance/check_openapi.py openapi/openapi.yaml DIR

DIR holds what the Swift API tests recorded:

* ``routes.json``: ``[{"method": "GET", "pattern": "/v1/evses/{evseID}/errors"}, ...]``, the
  server's route table (``LedgerAPI.routes``). Every route must be an operation of the document
  and every operation a route (HEAD is served for every GET, so a HEAD operation only needs the
  GET route).
* ``exchange-*.json``: ``{"method", "target", "status", "headers" (lower-case names), "body"}``,
  one request/response each. The target's path is matched to a document path (percent-decoded
  segments; a ``{param}`` segment matches one non-empty segment; literal segments win over
  parameters), the method must be an operation there (HEAD may use the GET), the status must be
  documented (exact, ``NXX`` or ``default``), the response's media type must be in that
  response's ``content``, and the body must match the schema: ``application/json`` (and
  ``+json``) as a whole, ``application/x-ndjson`` line by line, ``text/event-stream`` the JSON
  of each event's ``data:``, ``text/csv`` only a non-empty header line, ``text/plain`` nothing.
  Query parameter names must be parameters of the operation when the request was taken (a
  status below 400; a 4xx may be the refusal of that very parameter). Documented headers that are
  ``required`` must be present, and documented headers that are present must match their schema.
  Answers that come from no operation (the router's 404/405/400 and the HTTP layer's plain-text
  refusals) must be listed under the document's root ``x-unrouted-responses`` by status; for a
  request an operation matches, only a plain-text HTTP-layer refusal may come from there.

Examples: every response body of every operation has an ``example`` (or ``examples``), and each
is checked as a body of its media type against the response's schema.

Coverage: every operation needs at least one exchange with a 2xx status. Documented statuses
never seen are reported as notes, not failures.

The document itself is checked loosely: ``openapi`` starts with ``3.1``, every ``$ref``
resolves (only local ``#/...`` references), each path template's parameters are declared, each
schema is a valid JSON Schema 2020-12.

Only the standard library, PyYAML and jsonschema are used. ``$ref``s are inlined here rather
than left to RefResolver / referencing, so jsonschema 4.10 (Debian bookworm) and 4.26 behave
alike. Exit status 1 when anything failed, and also when DIR has no exchanges or no
routes.json: an empty run must not pass.
"""

import glob
import json
import os
import re
import sys

import jsonschema
import yaml
from jsonschema.exceptions import best_match

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_MESSAGE = 300


class DocumentError(Exception):
    pass


# --------------------------------------------------------------------------- the document


def resolve_pointer(document, ref):
    """The node a local ``#/a/b`` reference names; raises DocumentError when it does not resolve."""
    if not ref.startswith("#"):
        raise DocumentError(f"$ref {ref!r} is not a local reference (#/...)")
    node = document
    fragment = ref[1:]
    if fragment == "":
        return node
    if not fragment.startswith("/"):
        raise DocumentError(f"$ref {ref!r} is not a JSON pointer")
    for raw in fragment[1:].split("/"):
        part = percent_decode(raw)
        if part is None:
            raise DocumentError(f"$ref {ref!r} has broken percent-encoding")
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise DocumentError(f"$ref {ref!r} does not resolve (no {part!r})")
    return node


def inline(document, node, stack=()):
    """A deep copy of ``node`` with every ``$ref`` replaced by what it names.

    A reference with sibling keywords (allowed in OpenAPI 3.1 schemas) becomes
    ``{"allOf": [target], <siblings>}``; ``summary``/``description`` siblings of a non-schema
    reference simply override the target's.
    """
    if isinstance(node, list):
        return [inline(document, item, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str):
        ref = node["$ref"]
        if ref in stack:
            raise DocumentError(f"$ref {ref!r} is cyclic ({' -> '.join(stack + (ref,))}); the checker inlines references and cannot follow cycles")
        target = inline(document, resolve_pointer(document, ref), stack + (ref,))
        siblings = {key: inline(document, value, stack) for key, value in node.items() if key != "$ref"}
        if not siblings:
            return target
        if set(siblings) <= {"summary", "description"} and isinstance(target, dict):
            merged = dict(target)
            merged.update(siblings)
            return merged
        merged = {"allOf": [target]}
        merged.update(siblings)
        return merged
    return {key: inline(document, value, stack) for key, value in node.items()}


def all_refs(node, where="#"):
    """Every ``$ref`` in the document, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from all_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from all_refs(value, f"{where}/{index}")


def schemas_in(response):
    """(media type, schema) of every content entry of an inlined response."""
    for media, entry in (response.get("content") or {}).items():
        if isinstance(entry, dict) and "schema" in entry:
            yield media, entry["schema"]


def check_document(document):
    """Loose checks of the document; returns failure messages."""
    failures = []
    version = str(document.get("openapi", ""))
    if not version.startswith("3.1"):
        failures.append(f"openapi is {version!r}, not 3.1.x")
    if not isinstance(document.get("paths"), dict) or not document["paths"]:
        failures.append("the document has no paths")
    for where, ref in all_refs(document):
        try:
            resolve_pointer(document, ref)
        except DocumentError as error:
            failures.append(f"{where}: {error}")
    if failures:
        return failures
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    for requirement in document.get("security") or []:
        for name in requirement:
            if name not in schemes:
                failures.append(f"#/security names an undefined security scheme {name!r}")
    for path, item in (document.get("paths") or {}).items():
        try:
            item = inline(document, item)
        except DocumentError as error:
            failures.append(f"paths {path}: {error}")
            continue
        template_params = set(re.findall(r"\{([^}/]+)\}", path))
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            label = f"{method.upper()} {path}"
            declared = {p.get("name") for p in parameters_of(item, operation) if p.get("in") == "path"}
            for name in sorted(template_params - declared):
                failures.append(f"{label}: path parameter {{{name}}} is not declared")
            for name in sorted(declared - template_params):
                failures.append(f"{label}: path parameter {name!r} is declared but not in the path")
            responses = operation.get("responses") or {}
            if not responses:
                failures.append(f"{label}: no responses")
            for status, response in responses.items():
                if not re.fullmatch(r"[1-5](?:[0-9]{2}|XX)|default", str(status)):
                    failures.append(f"{label}: response key {status!r} is not a status, NXX or default")
                for media, schema in schemas_in(response):
                    failures.extend(f"{label} {status} {media}: {m}" for m in schema_problems(schema))
            for requirement in operation.get("security") or []:
                for name in requirement:
                    if name not in schemes:
                        failures.append(f"{label}: security names an undefined scheme {name!r}")
    try:
        unrouted = inline(document, document.get("x-unrouted-responses") or {})
    except DocumentError as error:
        return failures + [f"x-unrouted-responses: {error}"]
    for status, response in unrouted.items():
        for media, schema in schemas_in(response):
            failures.extend(f"x-unrouted-responses {status} {media}: {m}" for m in schema_problems(schema))
    return failures


def schema_problems(schema):
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        return [f"not a valid JSON Schema 2020-12: {shorten(error.message)}"]
    return []


def parameters_of(item, operation):
    """Path-item parameters overridden by the operation's (same name and location)."""
    merged = {}
    for parameter in (item.get("parameters") or []) + (operation.get("parameters") or []):
        if isinstance(parameter, dict):
            merged[(parameter.get("name"), parameter.get("in"))] = parameter
    return list(merged.values())


# --------------------------------------------------------------------------- targets


def percent_decode(text, plus_is_space=False):
    """RFC 3986 percent-decoding as the server does it; None when broken or not UTF-8."""
    out = bytearray()
    index = 0
    raw = text.encode("utf-8")
    while index < len(raw):
        byte = raw[index]
        if byte == 0x25:  # %
            pair = raw[index + 1 : index + 3]
            if len(pair) != 2 or not all(chr(c) in "0123456789abcdefABCDEF" for c in pair):
                return None
            out.append(int(pair, 16))
            index += 3
            continue
        out.append(0x20 if plus_is_space and byte == 0x2B else byte)
        index += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_target(target):
    """(decoded path segments or None, query parameter names or None) of an origin-form target."""
    if not target.startswith("/"):
        return None, None
    path, _, query = target.partition("?")
    segments = []
    for raw in path.split("/")[1:]:
        segment = percent_decode(raw)
        if segment is None:
            return None, None
        segments.append(segment)
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash, as the router treats it
    names = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = percent_decode(pair.partition("=")[0], plus_is_space=True)
        if name is None:
            return segments, None
        names.append(name)
    return segments, names


def template_segments(template):
    return [("param", s[1:-1]) if s.startswith("{") and s.endswith("}") else ("literal", s) for s in template.split("/")[1:]]


def match_path(templates, segments):
    """The template ``segments`` match, preferring literal segments (leftmost first)."""
    best, best_key = None, None
    for template in templates:
        pattern = template_segments(template)
        if len(pattern) != len(segments):
            continue
        key = []
        for (kind, value), segment in zip(pattern, segments):
            if kind == "literal":
                if value != segment:
                    break
                key.append(1)
            else:
                if segment == "":
                    break
                key.append(0)
        else:
            if best_key is None or key > best_key:
                best, best_key = template, key
    return best


# --------------------------------------------------------------------------- bodies


def shorten(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def error_path(error):
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class Validators:
    """Draft 2020-12 validators for inlined schemas, built once per schema."""

    def __init__(self):
        self.cache = {}

    def first_error(self, schema, instance):
        key = id(schema)
        if key not in self.cache:
            problems = schema_problems(schema)
            validator = None if problems else jsonschema.Draft202012Validator(schema)
            self.cache[key] = (schema, validator, problems)
        _, validator, problems = self.cache[key]
        if validator is None:
            return f"cannot validate: the documented schema is {problems[0]}"
        try:
            error = best_match(validator.iter_errors(instance))
        except Exception as failure:  # a schema check_schema let through but the validator cannot use
            return f"cannot validate: {type(failure).__name__}: {shorten(failure)}"
        if error is None:
            return None
        return f"{shorten(error.message)} (at {error_path(error)}, schema {'/'.join(str(p) for p in error.absolute_schema_path)})"


def media_entry(content, media):
    """The content entry for ``media``: exact, then ``type/*``, then ``*/*``."""
    if media in content:
        return content[media]
    wildcard = media.split("/")[0] + "/*"
    if wildcard in content:
        return content[wildcard]
    return content.get("*/*")


def is_json_media(media):
    return media == "application/json" or media.endswith("+json")


def sse_events(body):
    """(line number, data) of each complete event of a text/event-stream body (data lines joined by LF)."""
    events, data = [], []
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, 1):
        if line == "":
            if data:
                events.append((number, "\n".join(data)))
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
    # Data after the last blank line belongs to an event the recording cut off: like an
    # EventSource (HTML "dispatch the event" rules), ignore it.
    return events


MAX_LINE_FAILURES = 3


def capped(problems, unit):
    """The first few per-line problems of one body, and how many more there were."""
    if len(problems) <= MAX_LINE_FAILURES:
        return problems
    return problems[:MAX_LINE_FAILURES] + [f"... and {len(problems) - MAX_LINE_FAILURES} more {unit} fail"]


def check_body(validators, media, schema, body):
    """Failure messages for a body of ``media`` against ``schema`` (None: no schema)."""
    problems = []
    if media == "text/csv":
        first = body.replace("\r\n", "\n").split("\n", 1)[0]
        if not first.strip():
            problems.append("text/csv body has no header line")
        return problems
    if media == "application/x-ndjson":
        for number, line in enumerate(body.split("\n"), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as error:
                problems.append(f"NDJSON line {number} is not JSON: {error}")
                continue
            if schema is not None:
                message = validators.first_error(schema, value)
                if message:
                    problems.append(f"NDJSON line {number}: {message}")
        return capped(problems, "NDJSON lines")
    if media == "text/event-stream":
        for number, data in sse_events(body):
            try:
                value = json.loads(data)
            except ValueError as error:
                problems.append(f"SSE event ending at line {number}: data is not JSON: {error}")
                continue
            if schema is not None:
                message = validators.first_error(schema, value)
                if message:
                    problems.append(f"SSE event ending at line {number}: {message}")
        return capped(problems, "SSE events")
    if is_json_media(media):
        try:
            value = json.loads(body)
        except ValueError as error:
            return [f"body is not JSON: {error}"]
        if schema is not None:
            message = validators.first_error(schema, value)
            if message:
                problems.append(message)
        return problems
    return problems  # text/plain and anything else: the media type is all there is to check


def check_headers(validators, response, headers):
    problems = []
    for name, header in (response.get("headers") or {}).items():
        if name.lower() == "content-type" or not isinstance(header, dict):
            continue
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"required response header {name} is missing")
            continue
        schema = header.get("schema")
        if isinstance(schema, dict):
            message = validators.first_error(schema, value)
            if message:
                problems.append(f"response header {name}: {value!r}: {message}")
    return problems


# --------------------------------------------------------------------------- the run


def lookup_response(responses, status):
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return key, responses[key]
    return None, None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    spec_path, directory = argv[1], argv[2]
    failures = []

    def fail(where, why):
        failures.append((where, why))
        print(f"FAIL {where}: {why}")

    spec_name = os.path.basename(spec_path)
    files = sorted(glob.glob(os.path.join(directory, "exchange-*.json")))
    try:
        with open(spec_path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        fail(spec_name, f"cannot read the document: {shorten(error)}")
        print(f"openapi conformance: {len(files)} exchanges, 0 operations, {len(failures)} failures")
        return 1
    if not isinstance(raw, dict):
        fail(spec_name, "the document is not a mapping")
        print(f"openapi conformance: {len(files)} exchanges, 0 operations, {len(failures)} failures")
        return 1
    document_failures = check_document(raw)
    for message in document_failures:
        fail(spec_name, message)
    if any("does not resolve" in m or "cyclic" in m or "not a local" in m or "no paths" in m for m in document_failures):
        print(f"openapi conformance: {len(files)} exchanges, 0 operations, {len(failures)} failures")
        return 1

    paths = {template: inline(raw, item) for template, item in raw["paths"].items()}
    unrouted = inline(raw, raw.get("x-unrouted-responses") or {})
    operations = {}  # (METHOD, template) -> (path item, operation)
    for template, item in paths.items():
        for method in HTTP_METHODS:
            if method in item:
                operations[(method.upper(), template)] = (item, item[method])

    # Every response body has an example, and the example is what the schema allows: a client
    # author reads them, so they must be true (JSON examples are checked as JSON bodies, NDJSON,
    # CSV and event-stream examples as text bodies of their media type).
    example_validators = Validators()
    for (method, template), (_, operation) in sorted(operations.items()):
        for status, response in (operation.get("responses") or {}).items():
            for media, entry in ((response or {}).get("content") or {}).items():
                where = f"{method} {template} {status} {media}"
                if "example" not in entry and "examples" not in entry:
                    fail(where, "the response has no example")
                    continue
                examples = [entry["example"]] if "example" in entry else [e.get("value") for e in entry["examples"].values()]
                for example in examples:
                    text = json.dumps(example) if is_json_media(media) or not isinstance(example, str) else example
                    for problem in check_body(example_validators, media, entry.get("schema"), text):
                        fail(where, f"example: {problem}")

    # Routes, both ways.
    routes_path = os.path.join(directory, "routes.json")
    routes = None
    try:
        with open(routes_path, encoding="utf-8") as handle:
            routes = json.load(handle)
        if not isinstance(routes, list) or not routes:
            fail("routes.json", "is not a non-empty list of {method, pattern}")
            routes = None
    except OSError:
        fail("routes.json", f"missing in {directory}: the route table was not recorded")
    except ValueError as error:
        fail("routes.json", f"is not JSON: {error}")
    if routes is not None:
        route_set = set()
        for route in routes:
            if not isinstance(route, dict) or "method" not in route or "pattern" not in route:
                fail("routes.json", f"entry {route!r} lacks method or pattern")
                continue
            route_set.add((str(route["method"]).upper(), route["pattern"]))
        shape = lambda template: re.sub(r"\{[^}/]*\}", "{}", template)
        for method, pattern in sorted(route_set):
            if (method, pattern) not in operations:
                similar = [t for (m, t) in operations if m == method and shape(t) == shape(pattern)]
                hint = f" (the document has {similar[0]}: parameter names differ)" if similar else ""
                fail("routes.json", f"route {method} {pattern} is not an operation of the document{hint}")
        for method, template in sorted(operations):
            if (method, template) in route_set:
                continue
            if method == "HEAD" and ("GET", template) in route_set:
                continue
            fail(spec_name, f"operation {method} {template} is not a route of the server")

    # Exchanges.
    if not files:
        fail(directory, "no exchange-*.json files: nothing was recorded")
    validators = Validators()
    succeeded = set()
    seen_statuses = {}
    unrouted_count = 0
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as handle:
                exchange = json.load(handle)
            method = str(exchange["method"]).upper()
            target = str(exchange["target"])
            status = int(exchange["status"])
            headers = {str(k).lower(): (", ".join(v) if isinstance(v, list) else str(v)) for k, v in (exchange.get("headers") or {}).items()}
            body = exchange.get("body") or ""
            if not isinstance(body, str):
                raise ValueError("body is not a string")
        except (OSError, ValueError, KeyError, TypeError) as error:
            fail(name, f"not a readable exchange: {shorten(error)}")
            continue
        label = f"{method} {target} -> {status}"
        segments, query_names = split_target(target)
        template = match_path(list(paths), segments) if segments is not None else None
        key = None
        if template is not None:
            if (method, template) in operations:
                key = (method, template)
            elif method == "HEAD" and ("GET", template) in operations:
                key = ("GET", template)

        if key is None:
            # No operation: only the router's and the HTTP layer's answers are possible.
            response = unrouted.get(str(status))
            if response is None:
                why = "no document path matches the target" if template is None else f"{method} is not an operation of {template}"
                fail(name, f"{label}: {why}, and {status} is not in x-unrouted-responses")
                continue
            unrouted_count += 1
            status_key, operation = str(status), None
        else:
            item, operation = operations[key]
            status_key, response = lookup_response(operation.get("responses") or {}, status)
            if response is None:
                # Only the HTTP layer's plain-text refusals can answer a request an operation
                # matches without the operation documenting the status.
                response = unrouted.get(str(status))
                media = (headers.get("content-type") or "").split(";")[0].strip().lower()
                if response is None or media != "text/plain" or "text/plain" not in (response.get("content") or {}):
                    fail(name, f"{label}: status {status} is not documented for {key[0]} {key[1]}")
                    continue
                unrouted_count += 1
            seen_statuses.setdefault(key, set()).add(status_key)
            if 200 <= status < 300:
                succeeded.add(key)
            # Query parameter names must be documented where the server took the request; a
            # refused request (4xx) may well carry the unknown parameter it was refused for.
            if query_names is not None and status < 400:
                documented = {p.get("name") for p in parameters_of(item, operation) if p.get("in") == "query"}
                for parameter in sorted(set(query_names) - documented):
                    fail(name, f"{label}: query parameter {parameter!r} is not a parameter of {key[0]} {key[1]}")

        for message in check_headers(validators, response, headers):
            fail(name, f"{label}: {message}")
        content = response.get("content") or {}
        content_type = headers.get("content-type")
        media = content_type.split(";")[0].strip().lower() if content_type else None
        if not content:
            if body:
                fail(name, f"{label}: the response has a body ({media or 'no content-type'}) but the document gives it no content")
            continue
        if media is None:
            if body:
                fail(name, f"{label}: a body without content-type")
            elif method != "HEAD":
                fail(name, f"{label}: no body and no content-type, but the document gives content {sorted(content)}")
            continue
        entry = media_entry(content, media)
        if entry is None:
            fail(name, f"{label}: media type {media} is not documented for {status_key} (documented: {', '.join(sorted(content))})")
            continue
        if method == "HEAD":
            if body:
                fail(name, f"{label}: a HEAD response with a body")
            continue
        schema = entry.get("schema") if isinstance(entry, dict) else None
        for message in check_body(validators, media, schema, body):
            fail(name, f"{label}: {message}")

    # Coverage.
    for key in sorted(operations):
        if key[0] == "HEAD" and ("GET", key[1]) in succeeded:
            continue
        if key not in succeeded and files:
            fail(spec_name, f"operation {key[0]} {key[1]} has no exchange with a 2xx status")
    for key in sorted(operations):
        documented = {s for s in (operations[key][1].get("responses") or {}) if re.fullmatch(r"[1-5][0-9]{2}", str(s))}
        missing = sorted(documented - seen_statuses.get(key, set()))
        if missing:
            print(f"note: {key[0]} {key[1]}: documented statuses never seen: {', '.join(missing)}")
    if unrouted_count:
        print(f"note: {unrouted_count} exchanges answered by the router or HTTP layer (x-unrouted-responses)")

    print(f"openapi conformance: {len(files)} exchanges, {len(operations)} operations, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
