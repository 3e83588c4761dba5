"""The house drawn as layers (docs/architecture.md, "Layers"): every edgekit module parsed with `ast`, every import
counted (one inside a function too: it hides a dependency without removing it), and two rules kept:

- no import circle between edgekit modules, nor between rooms;
- no arrow back up: a room imports only rooms of its own layer or of layers below (LAYERS, lowest first).

A room is a top-level module (`edgekit/images.py` -> "images") or a subpackage (`edgekit/data/` -> "data"); every
room must be placed in LAYERS, so a new module is placed on purpose."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgekit"

# Lowest first. The one definition of the order; docs/architecture.md mirrors it.
LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"edgekit", "version", "errors", "validate", "progress", "paths", "contracts", "interrupts", "fileio",
              "logcapture", "formats", "cpu", "stats", "preprocess", "images", "recipe", "detection_post"}),
    ("files and runtimes", {"runtime", "manifest_schema", "manifest", "safeload", "weightfile", "predictor",
                            "artifacts"}),
    ("data and models", {"data", "models", "detection_metrics", "detector"}),
    ("runs and checkpoints", {"rundir", "image_sets", "checkpoint", "model_source"}),
    ("stages", {"train", "detection_eval", "detection_predict", "quantize", "evaluate_options"}),
    ("stages that use stages", {"evaluate", "export"}),
    ("measuring", {"bench", "android"}),
    ("profiling", {"profile", "profile_data"}),
    ("reporting", {"report"}),
    ("console", {"cli"}),
]

DOCS = PACKAGE.parent / "docs" / "architecture.md"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges(package: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the edgekit modules it imports}, at any depth of the file; `from edgekit.x import y` counts as
    an import of edgekit.x.y where y is a module, else of edgekit.x."""
    paths = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    root = package.name

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[:len(here.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in paths else module
                           for alias in node.names]
            else:
                continue
            found.update(target for target in map(resolve, (t for t in targets if t.split(".")[0] == root))
                         if target and target != name)
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def circle_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One shortest circle through the component's first module, as the path of imports that closes it."""
    start = component[0]
    paths = {target: [start, target] for target in sorted(edges[start]) if target in component}
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for target in sorted(edges[node]):
            if target in component and target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return component


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of() -> dict[str, int]:
    return {name: level for level, (_, rooms) in enumerate(LAYERS) for name in rooms}


def arrows_back_up(edges: dict[str, set[str]]) -> list[str]:
    levels = layer_of()
    return sorted(f"{source} -> {target} ({LAYERS[levels[room(source)]][0]} -> {LAYERS[levels[room(target)]][0]})"
                  for source, targets in edges.items() for target in targets
                  if levels[room(target)] > levels[room(source)])


def test_every_room_is_placed_in_one_layer():
    rooms = {room(module) for module in import_edges()}
    placed = [name for _, names in LAYERS for name in names]
    assert len(placed) == len(set(placed)), "a room is placed in two layers"
    assert not rooms - set(placed), f"rooms not placed in LAYERS: {sorted(rooms - set(placed))}"
    assert not set(placed) - rooms, f"LAYERS names rooms that do not exist: {sorted(set(placed) - rooms)}"


def test_no_import_circle():
    edges = import_edges()
    found = [" -> ".join(circle_through(component, edges)) for component in cycles(edges)]
    assert not found, "import circles between edgekit modules:\n" + "\n".join(found)


def room_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {room(module): set() for module in edges}
    for source, targets in edges.items():
        rooms[room(source)].update(room(target) for target in targets if room(target) != room(source))
    return rooms


def test_no_circle_between_rooms():
    """Within one layer too: two rooms that import each other (through any of their modules) are one room drawn
    as two."""
    edges = room_edges(import_edges())
    found = [" -> ".join(circle_through(component, edges)) for component in cycles(edges)]
    assert not found, "rooms that import each other:\n" + "\n".join(found)


def test_no_arrow_back_up():
    found = arrows_back_up(import_edges())
    assert not found, "imports from a lower layer to a higher one:\n" + "\n".join(found)


def test_the_documented_layers_are_the_enforced_ones():
    """docs/architecture.md, "Layers": one table row per layer, `| index | name | `room`, ... |`."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Layers"):text.index("## ", text.index("## Layers") + 3)]
    documented = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            documented.append((cells[1], {room.strip(" `") for room in cells[2].split(",")}))
    assert documented == LAYERS, f"docs/architecture.md's layer table differs from LAYERS:\n{documented}"


def test_the_scan_sees_circles_and_arrows_inside_functions(tmp_path):
    """The rules' own checks must be able to fail: a function-level import closing a circle and one reaching up."""
    package = tmp_path / "edgekit"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("")
    (package / "images.py").write_text("def f():\n    from edgekit.data import folder\n    return folder\n")
    (package / "data" / "folder.py").write_text("from ..images import f\n")
    edges = import_edges(package)
    assert edges["edgekit.images"] == {"edgekit.data.folder"}
    assert edges["edgekit.data.folder"] == {"edgekit.images"}
    assert cycles(edges) == [["edgekit.data.folder", "edgekit.images"]]
    assert circle_through(cycles(edges)[0], edges) == ["edgekit.data.folder", "edgekit.images", "edgekit.data.folder"]
    assert cycles(room_edges(edges)) == [["data", "images"]]
    assert arrows_back_up(edges) == ["edgekit.images -> edgekit.data.folder (base -> data and models)"]
