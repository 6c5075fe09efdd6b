"""Imports run one way: a static check of every ``.py`` file of the six packages.

Read with ``ast`` (nothing is imported or run), every import counts: at module level, inside
functions and methods, under ``if TYPE_CHECKING:``, and a string import
(``importlib.import_module("x.y")`` / ``__import__("x.y")``, also through a module-level
string constant). The rules (../shared/DESIGN.md, "Layout and the direction of imports"):

- between the packages: ``pages -> app -> auth/infra -> engine`` and
  ``workers -> infra -> engine`` (a package may use any package below it: ``pages`` may call
  ``infra`` and ``workers`` may call ``engine``); nothing imports ``pages`` or ``workers``;
- ``engine`` imports no other package of this repo and no UI, HTTP or job framework
  (``tests/engine/test_import_hygiene.py`` checks at run time what ``import engine`` loads);
- inside ``engine``: ``models`` never imports ``generation``, ``relational`` or ``quality``
  (they use models); ``privacy`` never imports ``models`` (models use privacy); no model
  module but ``engine.models.base`` imports DP-SGD (``engine.privacy.dpsgd`` or the wrapper
  ``private_training``): differential privacy wraps a model's trainer; no engine
  module but the CLI (``engine/__main__.py``) imports the facade ``engine/__init__.py``
  (it sits on top of the engine: ``__version__`` comes from ``engine.version``);
- inside ``infra``: the use cases (``infra.usecases``, tenant first) use the records
  (``infra.records``, session first) and the packages below them, never the reverse: no infra
  module outside ``infra.usecases`` imports it (records, ``db``, ``storage``, ``cache``, ``jobs``,
  ``privacy``, the top-level modules), and ``infra/services`` (the old flat folder) is gone;
- ``pages``, ``app`` and ``auth`` never open a database session or reach the object store:
  they import neither ``infra.db``'s session side (the facade ``infra.db``, ``session``,
  ``connections``, ``migrate``, ``postgres``) nor ``infra.storage`` (its ``errors`` aside); they
  call use cases that take the tenant;
- no cycle between the packages, and no cycle between files.

A failure names the file, the line, the import and the rule it breaks. ``EXCEPTIONS`` lists
the imports allowed to break a rule, each with its reason; an exception that no longer
occurs fails too, so the list cannot go stale. ``AUTH_SESSION_OPENERS`` lists, the same way, the
auth modules that open a tenant session themselves, each with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "infra", "workers", "auth", "app", "pages")

# package -> the packages of this repo it may import (besides itself)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "engine": frozenset(),
    "infra": frozenset({"engine"}),
    "auth": frozenset({"infra", "engine"}),
    "workers": frozenset({"infra", "engine"}),
    "app": frozenset({"auth", "infra", "engine"}),
    "pages": frozenset({"app", "auth", "infra", "engine"}),
}
# third-party top-level modules the engine never imports: UI, HTTP serving, login, job queue
ENGINE_FORBIDDEN_THIRD_PARTY = frozenset(
    {"streamlit", "fastapi", "starlette", "uvicorn", "flask", "django", "aiohttp", "tornado", "authlib", "dramatiq"}
)
# inside engine: subpackage -> subpackages it never imports
ENGINE_INNER_FORBIDDEN: dict[str, frozenset[str]] = {
    "models": frozenset({"generation", "relational", "quality"}),
    "privacy": frozenset({"models"}),
}

# DP-SGD is a wrapper around a model's trainer: inside engine.models only the base applies it
DP_SGD_MODULES = frozenset({"engine.privacy.dpsgd", "engine.privacy.private_training"})
DP_SGD_CALLERS = frozenset({"engine.models.base"})

# the engine's modules that sit above its facade and may import it: itself and the CLI
ENGINE_ABOVE_FACADE = frozenset({"engine", "engine.__main__"})

# inside infra: the tenant-first use cases, which no other infra module imports
INFRA_USECASES = "infra.usecases"
# what pages, app and auth never import: the database session side and the object store
SESSION_AND_STORE = frozenset(
    {"infra.db", "infra.db.session", "infra.db.connections", "infra.db.migrate", "infra.db.postgres", "infra.storage"}
)
SESSION_AND_STORE_ALLOWED = frozenset({"infra.storage.errors"})  # what a caller catches, not a way in
NO_SESSION_PACKAGES = frozenset({"pages", "app", "auth"})

# (importing module, imported module) -> why it is allowed to break a rule. Keep it short.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("infra.jobs.queue", "workers.tasks"): (
        "embedded mode: the app's own process hosts the in-process Dramatiq worker, so infra's "
        "queue loads the actors by name on the first enqueue; a registration from the workers "
        "side would need the app to import workers, an arrow the layout does not have"
    ),
}

# (auth module, imported module) -> why that auth module opens a tenant session itself. auth is
# the login and share-link layer beside infra: these are its own use cases (tenant first, or
# before any tenant is known), so pages and app still reach the session only through them.
AUTH_SESSION_OPENERS: dict[tuple[str, str], str] = {
    ("auth.provisioning", "infra.db.session"): (
        "the login: before a tenant is known it follows the tenant directory and opens a session "
        "for each tenant the claims or an invitation name, to grant the membership there"
    ),
    ("auth.share_links", "infra.db.session"): (
        "a share link is resolved without a login: the token's tenant comes from the directory, "
        "then that tenant's session re-reads the link"
    ),
    ("auth.report_sharing", "infra.db.session"): (
        "the share-link use cases (tenant first) that app/components/share_panel.py calls: each opens "
        "the tenant's transaction around auth.share_links, which infra cannot import"
    ),
}


@dataclass(frozen=True)
class Import:
    """One import statement (or string import) found in a file."""

    module: str  # the importing module, e.g. "infra.db.session"
    path: str  # its file, relative to the scanned root
    line: int
    target: str  # the imported module: a module of the tree when it is one, else as written
    how: str  # "module level", "inside a function", "under TYPE_CHECKING", "string import"

    def where(self) -> str:
        return f"{self.path}:{self.line}: imports {self.target} ({self.how})"


@dataclass(frozen=True)
class Tree:
    """The modules of the scanned packages and every import in them."""

    modules: dict[str, str]  # module name -> file, relative to the root
    imports: tuple[Import, ...]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def scan(root: Path, packages: Iterable[str] = PACKAGES) -> Tree:
    """Parse every ``.py`` file under ``root/<package>`` and collect its imports."""
    files: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[module_name(path, root)] = path
    modules = {name: path.relative_to(root).as_posix() for name, path in files.items()}
    imports: list[Import] = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for line, written, how in _imports_of(tree, name, is_package):
            imports.append(Import(name, modules[name], line, _resolve(written, modules), how))
    return Tree(modules, tuple(imports))


def _imports_of(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str, str]]:
    """(line, imported name as written, how) for every import in ``tree``; relative ones made absolute."""
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, how: str) -> Iterator[tuple[int, str, str]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, how
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base, how
        elif isinstance(node, ast.Call) and _is_import_call(node.func) and node.args:
            arg = node.args[0]
            text = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", ""))
            if isinstance(text, str):
                yield node.lineno, text, "string import"
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, "under TYPE_CHECKING")
            for child in node.orelse:
                yield from visit(child, how)
            return
        inner = "inside a function" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else how
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, "module level")


def _is_import_call(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(written: str, modules: dict[str, str]) -> str:
    """The module of the tree that ``written`` names (``from a.b import c``: ``a.b.c`` when that
    is a module, else ``a.b``), or ``written`` itself when it is outside the tree."""
    parts = written.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return written


def rule_violations(tree: Tree, packages: Iterable[str] = PACKAGES) -> list[tuple[Import, str]]:
    """Every import that breaks a rule, with the rule in words."""
    ours = set(packages)
    found: list[tuple[Import, str]] = []
    for imp in tree.imports:
        source, target = imp.module.split(".")[0], imp.target.split(".")[0]
        if target in ours and target != source and target not in MAY_IMPORT.get(source, frozenset()):
            allowed = ", ".join(sorted(MAY_IMPORT.get(source, frozenset()))) or "no other package"
            found.append((imp, f"{source} may import {allowed} of this repo, not {target} "
                               "(pages -> app -> auth/infra -> engine; workers -> infra -> engine)"))
        if source == "engine" and target in ENGINE_FORBIDDEN_THIRD_PARTY:
            found.append((imp, f"engine never imports {target} (no UI, HTTP or job framework in the library)"))
        if source == "engine" == target:
            src_sub, dst_sub = _engine_sub(imp.module), _engine_sub(imp.target)
            if dst_sub in ENGINE_INNER_FORBIDDEN.get(src_sub or "", frozenset()):
                found.append((imp, f"engine.{src_sub} never imports engine.{dst_sub} (the arrow runs the other way)"))
            if imp.target == "engine" and imp.module not in ENGINE_ABOVE_FACADE:
                found.append((imp, "an engine module never imports the facade engine/__init__.py "
                                   "(import the module that defines the name: engine.version, engine.errors, ...)"))
        if source == "engine" == target and _within(imp.module, "engine.models") and imp.target in DP_SGD_MODULES \
                and imp.module not in DP_SGD_CALLERS:
            found.append((imp, "a model never calls DP-SGD itself: engine.models.base wraps its trainer "
                               "(engine.privacy.private_training)"))
        if source == "infra" == target and _within(imp.target, INFRA_USECASES) and not _within(imp.module, INFRA_USECASES):
            found.append((imp, f"{_infra_part(imp.module)} never imports {INFRA_USECASES} (use cases use records and "
                               "the packages below them, never the reverse)"))
        if source in NO_SESSION_PACKAGES and _opens_session_or_store(imp.target):
            found.append((imp, f"nothing in {source} opens a database session or reaches the object store "
                               "(call an infra use case that takes the tenant)"))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _infra_part(module: str) -> str:
    """``infra.records``, ``infra.db``, ...: the infra subpackage of ``module``, or the module itself."""
    return ".".join(module.split(".")[:2])


def _opens_session_or_store(target: str) -> bool:
    if target in SESSION_AND_STORE_ALLOWED:
        return False
    return target in SESSION_AND_STORE or _within(target, "infra.storage")


def _engine_sub(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:  # iterative depth-first search, no recursion limit
        nonlocal counter
        work = [(node, iter(edges.get(node, {})))]
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, {}))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(found)


def cycle_path(edges: dict[str, dict[str, Import]], component: list[str]) -> list[Import]:
    """One closed path through ``component``, as the imports that make it (shortest from its first node)."""
    members, start = set(component), component[0]
    previous: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child, imp in sorted(edges.get(node, {}).items()):
                if child == start:
                    path = [imp]
                    while path[0].module != start:
                        path.insert(0, previous[path[0].module])
                    return path
                if child in members and child not in previous:
                    previous[child] = imp
                    following.append(child)
        frontier = following
    return []


def file_edges(tree: Tree, *, skip: Iterable[tuple[str, str]] = ()) -> dict[str, dict[str, Import]]:
    skipped = set(skip)
    edges: dict[str, dict[str, Import]] = {}
    for imp in tree.imports:
        if imp.target in tree.modules and imp.target != imp.module and (imp.module, imp.target) not in skipped:
            edges.setdefault(imp.module, {}).setdefault(imp.target, imp)
    return edges


def package_edges(tree: Tree, *, skip: Iterable[tuple[str, str]] = ()) -> dict[str, dict[str, Import]]:
    skipped = set(skip)
    edges: dict[str, dict[str, Import]] = {}
    for imp in tree.imports:
        source, target = imp.module.split(".")[0], imp.target.split(".")[0]
        if imp.target in tree.modules and source != target and (imp.module, imp.target) not in skipped:
            edges.setdefault(source, {}).setdefault(target, imp)
    return edges


def describe_cycles(edges: dict[str, dict[str, Import]], what: str) -> list[str]:
    return [
        f"a cycle between {what} {' <-> '.join(component)}:\n    "
        + "\n    ".join(imp.where() for imp in cycle_path(edges, component))
        for component in cycles(edges)
    ]


def problems(tree: Tree, exceptions: dict[tuple[str, str], str]) -> list[str]:
    """Every broken rule and every cycle of ``tree``, in words, apart from ``exceptions``."""
    used: set[tuple[str, str]] = set()
    found = []
    for imp, rule in rule_violations(tree):
        if (imp.module, imp.target) in exceptions:
            used.add((imp.module, imp.target))
        else:
            found.append(f"{imp.where()}: {rule}")
    found += describe_cycles(package_edges(tree, skip=exceptions), "the packages")
    found += describe_cycles(file_edges(tree, skip=exceptions), "the files")
    found += [f"the exception {source} -> {target} no longer occurs: remove it from EXCEPTIONS"
              for source, target in sorted(set(exceptions) - used)]
    return found


@pytest.fixture(scope="module")
def repo_tree() -> Tree:
    return scan(REPO)


def test_the_scan_sees_every_package_and_imports_inside_functions(repo_tree: Tree) -> None:
    assert {m.split(".")[0] for m in repo_tree.modules} == set(PACKAGES)
    assert any(imp.how == "inside a function" for imp in repo_tree.imports)


def test_imports_run_one_way_with_no_cycle(repo_tree: Tree) -> None:
    found = problems(repo_tree, {**EXCEPTIONS, **AUTH_SESSION_OPENERS})
    assert not found, "imports that break the layering:\n" + "\n".join(found)


def test_infra_is_split_into_records_and_use_cases_with_no_services_folder() -> None:
    assert not (REPO / "infra" / "services").exists(), (
        "infra/services is gone: session-first modules live in infra/records, tenant-first ones in infra/usecases"
    )
    assert (REPO / "infra" / "records" / "__init__.py").is_file()
    assert (REPO / "infra" / "usecases" / "__init__.py").is_file()


# -- the check itself, on small trees --------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
    return root


def problems_of(root: Path, exceptions: dict[tuple[str, str], str] | None = None) -> list[str]:
    return problems(scan(root), exceptions or {})


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "engine/__init__.py": "from engine.version import __version__\n",
        "engine/version.py": "__version__ = '0'\n",
        "engine/models/__init__.py": "",
        "engine/models/base.py": "from engine.errors import ConfigError\n",
        "engine/errors.py": "class ConfigError(Exception): ...\n",
        "engine/generation/__init__.py": "",
        "engine/generation/writer.py": "from engine.models.base import ConfigError\n",
        "infra/__init__.py": "import engine\n",
        "workers/__init__.py": "from infra import engine\nfrom engine.models import base\n",
        "pages/home.py": "import infra\n",
    })
    assert problems_of(root) == []


@pytest.mark.parametrize(("files", "expected"), [
    ({"engine/models/__init__.py": "", "engine/generation/__init__.py": "",
      "engine/models/base.py": "import os\n\n\ndef sample():\n    from engine.generation.conditions import parse\n",
      "engine/generation/conditions.py": "def parse(): ...\n"},
     "engine/models/base.py:5: imports engine.generation.conditions (inside a function): "
     "engine.models never imports engine.generation (the arrow runs the other way)"),
    ({"infra/jobs.py": "def start():\n    import workers.tasks\n", "workers/tasks.py": ""},
     "infra/jobs.py:2: imports workers.tasks (inside a function): infra may import engine of this repo, not workers"),
    ({"infra/jobs.py": "import importlib\nACTORS = 'workers.tasks'\nimportlib.import_module(ACTORS)\n",
      "workers/tasks.py": ""},
     "infra/jobs.py:3: imports workers.tasks (string import): infra may import engine of this repo, not workers"),
    ({"engine/ui.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streamlit\n"},
     "engine/ui.py:3: imports streamlit (under TYPE_CHECKING): engine never imports streamlit"),
    ({"engine/privacy/__init__.py": "from ..models.seeds import derive\n", "engine/models/__init__.py": "",
      "engine/models/seeds.py": ""},
     "engine/privacy/__init__.py:1: imports engine.models.seeds (module level): engine.privacy never imports engine.models"),
    ({"engine/models/__init__.py": "import engine\n"},
     "engine/models/__init__.py:1: imports engine (module level): an engine module never imports the facade"),
    ({"engine/models/__init__.py": "", "engine/models/argn.py": "def fit():\n    from engine.privacy.dpsgd import DPSGD\n",
      "engine/privacy/__init__.py": "", "engine/privacy/dpsgd.py": ""},
     "engine/models/argn.py:2: imports engine.privacy.dpsgd (inside a function): a model never calls DP-SGD itself"),
    ({"app/main.py": "from pages import home\n", "pages/home.py": ""},
     "app/main.py:1: imports pages.home (module level): app may import auth, engine, infra of this repo, not pages"),
    ({"infra/records/catalog.py": "def label():\n    from infra.usecases.outputs import view\n",
      "infra/usecases/__init__.py": "", "infra/usecases/outputs.py": ""},
     "infra/records/catalog.py:2: imports infra.usecases.outputs (inside a function): infra.records never imports "
     "infra.usecases"),
    ({"infra/jobs/submit.py": "from infra.usecases import training\n", "infra/usecases/__init__.py": "",
      "infra/usecases/training.py": ""},
     "infra/jobs/submit.py:1: imports infra.usecases.training (module level): infra.jobs never imports infra.usecases"),
    ({"infra/privacy/budget.py": "import infra.usecases\n", "infra/usecases/__init__.py": ""},
     "infra/privacy/budget.py:1: imports infra.usecases (module level): infra.privacy never imports infra.usecases"),
    ({"app/components/share_panel.py": "def panel():\n    from infra.db import tenant_session\n",
      "infra/db/__init__.py": ""},
     "app/components/share_panel.py:2: imports infra.db (inside a function): nothing in app opens a database session"),
    ({"pages/data.py": "from infra.storage.keys import tenant_root\n", "infra/storage/__init__.py": "",
      "infra/storage/keys.py": ""},
     "pages/data.py:1: imports infra.storage.keys (module level): nothing in pages opens a database session or "
     "reaches the object store"),
    ({"auth/links.py": "from infra.db.session import tenant_session\n", "infra/db/__init__.py": "",
      "infra/db/session.py": ""},
     "auth/links.py:1: imports infra.db.session (module level): nothing in auth opens a database session"),
])
def test_each_rule_catches_its_wrong_way_import(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    root = write_tree(tmp_path, {"engine/__init__.py": "", **files})
    found = problems_of(root)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_cycle_between_files_is_named_with_the_imports_that_close_it(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "infra/__init__.py": "",
        "infra/db/__init__.py": "",
        "infra/db/session.py": "def get():\n    from infra.db.migrate import migrate\n",
        "infra/db/migrate.py": "from infra.db.session import get\n\n\ndef migrate(): ...\n",
    })
    assert problems_of(root) == [
        "a cycle between the files infra.db.migrate <-> infra.db.session:\n"
        "    infra/db/migrate.py:1: imports infra.db.session (module level)\n"
        "    infra/db/session.py:2: imports infra.db.migrate (inside a function)"
    ]


def test_an_exception_allows_its_one_import_and_must_still_occur(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "infra/queue.py": "def start():\n    import workers.tasks\n",
        "workers/tasks.py": "import infra.queue\n",
    })
    allowed = {("infra.queue", "workers.tasks"): "the embedded worker"}
    assert problems_of(root, allowed) == []
    stale = {**allowed, ("infra.queue", "workers.gone"): "removed long ago"}
    assert problems_of(root, stale) == [
        "the exception infra.queue -> workers.gone no longer occurs: remove it from EXCEPTIONS"
    ]
