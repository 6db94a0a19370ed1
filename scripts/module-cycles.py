#!/usr/bin/env python3
"""Fails when the crate's modules import each other in a cycle.

Usage: scripts/module-cycles.py [src-dir]   (default: src)

A module is a file under src/ (`db/check.rs` is `db::check`, `db/mod.rs` is `db`). An edge
A -> B is any path in A's code that names an item of B: `crate::b::...`, `super::...`,
`self::...` in `use` declarations and in expressions. Edges between a module and its own
ancestors or descendants are left out: a parent declares and re-exports its children (a facade)
and children use their parent's types, which is how Rust modules are meant to nest. What is
left are the dependencies between siblings and cousins, e.g. `error -> router` or
`db::check <-> db::migrate`; those must form no cycle. Prints the graph's edges with `-v`.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
COMMENT = re.compile(r"//[^\n]*")


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def resolve(base: tuple[str, ...], anchor: str, segments: list[str], modules: set) -> tuple[str, ...] | None:
    if anchor == "crate":
        path = ()
    elif anchor == "super":
        path = base[:-1]
    else:
        path = base
    while segments and segments[0] == "super":
        path, segments = path[:-1], segments[1:]
    # The longest prefix that is a module: `crate::db::check::TooLong` is in `db::check`.
    target = path
    for segment in segments:
        if target + (segment,) in modules:
            target = target + (segment,)
        else:
            break
    return target


def related(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    src = Path(args[0] if args else "src")
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f) for f in files}
    edges: dict[tuple, set] = {m: set() for m in modules}
    for file in files:
        module = module_of(src, file)
        code = COMMENT.sub("", file.read_text())
        # Unit tests may reach anywhere; the production graph is what must be acyclic.
        code = re.split(r"#\[cfg\(test\)\]\s*mod tests", code)[0]
        references = [(m.group(1), m.group(2).split("::")[1:]) for m in PATH.finditer(code)]
        for group in USE_GROUP.finditer(code):
            prefix = group.group(2).split("::")[1:] if group.group(2) else []
            for item in re.split(r"[,{}\s]+", group.group(3)):
                name = item.split("::")[0]
                if name and name not in ("self", "as") and name[0].isalpha():
                    references.append((group.group(1), prefix + item.split("::")))
        for anchor, segments in references:
            target = resolve(module, anchor, segments, modules)
            if target is not None and not related(module, target):
                edges[module].add(target)
    name = lambda m: "::".join(m) or "crate"  # noqa: E731
    if verbose:
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f"{name(m)} -> {name(t)}")
    cycles = strongly_connected(edges)
    for cycle in cycles:
        print("cycle: " + " <-> ".join(sorted(name(m) for m in cycle)))
    print(f"{len(modules)} modules, {sum(map(len, edges.values()))} edges between unrelated modules, {len(cycles)} cycles")
    return 1 if cycles else 0


def strongly_connected(edges: dict) -> list[list]:
    """Tarjan's algorithm; returns the components with more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return found


if __name__ == "__main__":
    sys.exit(main())
