#!/usr/bin/env python3
"""Compares two OpenAPI documents semantically and prints every difference, one per line.

    scripts/openapi-diff.py BEFORE.json AFTER.json

Key order does not matter; neither does `"parameters": []` against no `parameters` (the same
operation). Lists are compared in order, except `required` and `tags`, which are sets. Each line
names the JSON pointer of the difference: `paths`, their methods, parameters, request bodies,
responses and their headers, and component schemas, responses and security schemes are all
compared the same way, down to their leaves. Exit status 1 when the documents differ.
"""

import json
import sys

UNORDERED = {"required", "tags"}


def normalise(value, key=None):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "parameters" and v == []:
                continue
            out[k] = normalise(v, k)
        return out
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        if key in UNORDERED:
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


def escape(segment):
    return str(segment).replace("~", "~0").replace("/", "~1")


def diff(before, after, pointer, out):
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            here = f"{pointer}/{escape(key)}"
            if key not in after:
                out.append(f"removed  {here}: {short(before[key])}")
            elif key not in before:
                out.append(f"added    {here}: {short(after[key])}")
            else:
                diff(before[key], after[key], here, out)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            diff(b, a, f"{pointer}/{i}", out)
    elif before != after:
        out.append(f"changed  {pointer}: {short(before)} -> {short(after)}")


def short(value):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def main():
    before, after = (normalise(json.load(open(path))) for path in sys.argv[1:3])
    out = []
    diff(before, after, "", out)
    print("\n".join(out))
    sys.exit(1 if out else 0)


if __name__ == "__main__":
    main()
