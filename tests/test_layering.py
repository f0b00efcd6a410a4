"""The package's layering, read from the source: data flows one way (data -> features -> model -> compression ->
reports), the pure-PyTorch packages never import the Lightning layer, the sequence models do not pull the VIBNet
image models, and no two modules of har_vib import each other.

Every import counts, at module level or inside a function (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "har_vib"
ROOT = PACKAGE_DIR.parent

# pure PyTorch: usable without Lightning, by scripts, notebooks and the Lightning layer alike
PURE_PACKAGES = (
    "vib",
    "compression",
    "models",
    "vibnet",
    "hrel",
    "encoders",
    "training",
    "data",
    "features",
    "baselines",
    "deploy",
    "reports",
)
# what the pure packages must not import: Lightning itself and the modules built on it
LIGHTNING_LAYER = (
    "lightning",
    "pytorch_lightning",
    "har_vib.lit_module",
    "har_vib.lit_modules",
    "har_vib.callbacks",
    "har_vib.datamodules",
    "har_vib.pipeline",
    "har_vib.loggers",
)


@dataclass(frozen=True)
class Import:
    """One import statement's target module, where it is (file, line)."""

    module: str
    file: Path
    line: int

    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    """``har_vib/data/flow.py`` -> ``har_vib.data.flow``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of har_vib by its dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The modules ``path`` imports, anywhere in the file; ``from pkg import sub`` also names ``pkg.sub`` when that
    is a module of har_vib, and relative imports are resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield Import(target, path, node.lineno)
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    yield Import(f"{target}.{alias.name}", path, node.lineno)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_pure_packages_never_import_the_lightning_layer():
    known = modules()
    pure = tuple(f"har_vib.{p}" for p in PURE_PACKAGES)
    offences = [
        f"{imp.where()}: {module_name(imp.file)} imports {imp.module}"
        for name, path in known.items()
        if _within(name, pure)
        for imp in imports_of(path, known)
        if _within(imp.module, LIGHTNING_LAYER)
    ]
    assert not offences, (
        "rule: the pure-PyTorch packages (har_vib/{" + ",".join(PURE_PACKAGES) + "}) never import Lightning or the "
        "Lightning layer (" + ", ".join(LIGHTNING_LAYER) + "); move the Lightning code to har_vib/lit_modules/ or "
        "the shared helper to a pure module (har_vib/training/):\n  " + "\n  ".join(offences)
    )
    missing = [p for p in pure if p not in known]
    assert not missing, f"listed as pure packages but not in har_vib: {missing}"


def _fresh_import(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_sequence_models_does_not_import_vibnet():
    loaded = _fresh_import(
        "import sys, har_vib.models\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('har_vib.vibnet'))))"
    )
    assert not loaded, (
        "rule: har_vib.models (the sequence models and the registry) does not pull the VIBNet image models; "
        f"`import har_vib.models` loaded {loaded} (the image models register when har_vib.vibnet is imported)"
    )


def test_the_image_models_register_when_vibnet_is_imported():
    names = _fresh_import("import har_vib.vibnet, har_vib.models as m\nprint(' '.join(m.list_models()))")
    for name in ("lenet300_100", "vib_lenet300_100", "lenet5", "vib_lenet5", "vgg", "vib_vgg"):
        assert name in names.split(), f"importing har_vib.vibnet did not register {name}: {names}"


def test_an_image_model_asked_for_before_vibnet_is_imported_names_the_import():
    message = _fresh_import(
        "import har_vib.models as m\ntry:\n    m.create_model('vib_lenet5')\nexcept KeyError as e:\n    print(e)"
    )
    assert "unknown model 'vib_lenet5'" in message and "import har_vib.vibnet" in message, message


def test_importing_every_pure_module_loads_no_lightning():
    """At run time too (imports of imports included): every module of the pure packages, imported in one fresh
    interpreter, loads neither Lightning nor the Lightning layer."""
    pure = [
        name
        for name in modules()
        if _within(name, tuple(f"har_vib.{p}" for p in PURE_PACKAGES)) and not name.endswith("__main__")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {pure!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning') or any("
        f"m == p or m.startswith(p + '.') for p in {LIGHTNING_LAYER[2:]!r}))\n"
        "    if bad:\n"
        "        print(name + ' -> ' + ', '.join(bad[:5]))\n"
        "        break\n"
    )
    culprit = _fresh_import(code)
    assert not culprit, f"rule: importing a pure module loads no Lightning code; importing {culprit}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], Import]]:
    """Module -> the har_vib modules it imports. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so it
    counts as importing that package too, unless the importer lives in it (a package's own modules)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    where: dict[tuple[str, str], Import] = {}
    for name, path in known.items():
        own = {name.rsplit(".", k)[0] for k in range(name.count(".") + 1)}
        for imp in imports_of(path, known):
            parts = imp.module.split(".")
            for k in range(2, len(parts) + 1):
                target = ".".join(parts[:k])
                if target in known and target not in own:
                    graph[name].add(target)
                    where.setdefault((name, target), imp)
    return graph, where


def test_no_two_modules_of_har_vib_import_each_other():
    graph, where = import_graph()
    lines = []
    for cycle in _cycles(graph):
        members = set(cycle)
        edges = [where[(a, b)].where() + f": {a} imports {b}" for a in cycle for b in sorted(graph[a] & members)]
        lines.append(" <-> ".join(cycle) + "\n    " + "\n    ".join(edges))
    assert not lines, (
        "rule: no import cycles among har_vib's modules (a lazy import inside a function counts too); move what "
        "both need to a module of its own (as har_vib/data/tvl1_params.py for the two TV-L1 backends):\n  "
        + "\n  ".join(lines)
    )
