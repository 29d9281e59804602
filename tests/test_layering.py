"""The layering of the library (``docs/README.md``, "Who may import whom"): a module imports only
modules of its own layer or of lower ones, never a higher one, not even lazily inside a function
(imports under ``if TYPE_CHECKING:`` are for type checkers only and do not count), and there are
no import cycles. Every module must be placed in a layer: a new module has to say where it sits.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnet"

# lowest first, as docs/README.md's table ("Who may import whom") lists them (the rule documented is
# the rule enforced: one home); a subpackage's name stands for all of its modules, and the
# package's own __init__ and __main__ are entry points, its _version a foundation
def _layers() -> list[tuple[str, set[str]]]:
    sys.path.insert(0, str(PACKAGE.parent / "site"))
    import modules  # site/modules.py: the one reader of that table (the API index and docs/modules.md use it)

    layers = [(title, set(members)) for title, members in modules.layers(PACKAGE.parent)]
    layers[0][1].add("_version")  # the version string, imported by anything
    layers[-1][1].update({"__main__", "__init__"})
    return layers


LAYERS: list[tuple[str, set[str]]] = _layers()


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """``{"ops.conv": path, "cli": path, "__init__": path, ...}`` for every module of the package."""
    out = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        out[".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)] = path
    return out


def layer_of(module: str) -> int:
    for i, (_, members) in enumerate(LAYERS):
        if module in members or module.split(".")[0] in members:
            return i
    raise AssertionError(f"scratchnet/{module.replace('.', '/')}.py is in no layer of tests/test_layering.py")


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)}
    return lines


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, at the top or inside functions."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" and module != "__init__" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("scratchnet"):
                target = node.module.removeprefix("scratchnet").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                out.add(sub if sub in known else target or "__init__")
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("scratchnet").lstrip(".") or "__init__" for a in node.names
                    if a.name.split(".")[0] == "scratchnet"}  # fmt: skip
    return {m for m in out if m != module}


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    names = module_names(package)
    return {m: imports(m, p, set(names)) for m, p in names.items()}


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, deps in sorted(graph().items()):
        for dep in sorted(deps):
            if layer_of(dep) > layer_of(module):
                own, theirs = LAYERS[layer_of(module)][0], LAYERS[layer_of(dep)][0]
                upward.append(f"{module} ({own}) imports {dep} ({theirs})")
    assert not upward, "\n".join(upward)


def test_there_are_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            # a subpackage importing its own parts (its __init__) is not a cycle
            if d.split(".")[0] == m.split(".")[0] and "." not in m:
                continue
            if state.get(d) == 1:
                return [*path, m, d]
            if d not in state and (found := visit(d, [*path, m])):
                return found
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (cycle := visit(m, [])):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_upward_and_lazy_imports(tmp_path):
    """The two circles this test was written against, rebuilt in a toy package: a registry that
    imports what fills it, and a callback reaching the experiment layer inside a function."""
    pkg = tmp_path / "scratchnet"
    (pkg / "ops").mkdir(parents=True)
    files = {
        "__init__.py": "", "ops/__init__.py": "", "experiment.py": "from .callbacks import X\n",
        "registry.py": "def every():\n    from .zoo import MODELS\n    return [MODELS]\n",
        "zoo.py": "from .registry import every\n",
        "callbacks.py": "def f():\n    from scratchnet.experiment import run\n    return run\n",
        "ops/conv.py": "from ._util import pair\nfrom .. import io\n", "ops/_util.py": "", "io.py": "",
    }  # fmt: skip
    for name, text in files.items():
        (pkg / name).write_text(text)
    g = graph(pkg)
    assert g["registry"] == {"zoo"} and layer_of("zoo") > layer_of("registry")  # upward, inside a function
    assert g["callbacks"] == {"experiment"} and layer_of("experiment") > layer_of("callbacks")
    assert g["ops.conv"] == {"ops._util", "io"}  # relative imports, one and two levels up
    # the library itself: the registry imports nothing, the loop nothing above it
    real = graph()
    assert not real["registry"] and "experiment" not in real["callbacks"]


def test_docs_state_the_layering():
    text = (PACKAGE.parent / "docs" / "README.md").read_text()
    for name, members in LAYERS:
        assert name in text, f"docs/README.md does not name the layer {name!r}"
        for member in members - {"__main__", "__init__", "_version"}:
            assert f"`{member}`" in text, f"docs/README.md does not place `{member}`"
