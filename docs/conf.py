"""Sphinx configuration for aerec's API reference and user guide.

Build (from the repository root, with aerec installed — the compiled modules must import)::

    pip install ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is downloaded at build time: no intersphinx, no remote images.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

try:
    import aerec
except ImportError as exc:  # pragma: no cover - a build-environment mistake, said plainly
    raise RuntimeError(
        "the API reference documents the installed aerec (its compiled modules must import): "
        "run `pip install .` first, or put a built copy on PYTHONPATH"
    ) from exc

project = "aerec"
author = "the aerec developers"
copyright = "2026, the aerec developers"
release = aerec.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# autodoc / autosummary: one page per public object, generated at build time into generated/.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types

# numpydoc renders the sections; members are listed by the class template, not by numpydoc.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_heading_anchors = 3

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"aerec {release}"


# ---- every public name is in the reference -------------------------------------------------------
# Each module below lists its public API in __all__; a name missing from api.rst is a build warning
# (an error under -W), so the reference cannot silently fall behind the code.
_DOCUMENTED_MODULES = ["aerec", "aerec.data", "aerec.datasets", "aerec.metrics", "aerec.model_selection",
                       "aerec.kernels", "aerec.persistence", "aerec.distributed", "aerec.distributed.mpi"]
_NOT_DOCUMENTED = {"aerec.__version__", "aerec.kernels", "aerec.datasets", "aerec.metrics",
                   "aerec.model_selection"}  # the version string, and the submodules with their own sections


def _check_api_coverage(app):
    import importlib

    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    text = (Path(app.srcdir) / "api.rst").read_text(encoding="utf-8")
    listed = set()
    current = ""
    for line in text.splitlines():
        m = re.match(r"\.\. (?:currentmodule|module|py:module):: (\S+)", line.strip())
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^\s{3,}~?([A-Za-z_][\w.]*)\s*$", line) or re.match(r"\.\. auto\w+:: (\S+)", line.strip())
        if m and current:
            listed.add(f"{current}.{m.group(1)}")
    for mod_name in _DOCUMENTED_MODULES:
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", []):
            full = f"{mod_name}.{name}"
            if full not in listed and full not in _NOT_DOCUMENTED:
                logger.warning("api.rst does not list the public name %s", full, location="api")


# ---- links to repository files ------------------------------------------------------------------
# The README (included by guide.md) and the markdown pages link to files of the repository, such as
# benchmarks/RESULTS.md, which are not part of the site. Such a link that names an existing file of
# the repository becomes its path as text; any other link MyST cannot resolve still warns.
_REPO = Path(__file__).resolve().parent.parent


class _RepositoryFileLinks(SphinxPostTransform):
    default_priority = 8  # before MyST's resolver (9), which would turn them into dead anchors

    def run(self, **kwargs):
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain"):
                continue
            target = node["reftarget"].split("#", 1)[0]
            # relative to the file the link is written in (README.md for the guide's includes)
            source = node.source or str(self.env.doc2path(node.get("refdoc", self.env.docname)))
            path = (Path(source).parent / target).resolve()
            if not target or not path.exists() or _REPO not in path.parents:
                continue
            shown = path.relative_to(_REPO).as_posix()
            text = node.astext()
            if text and text != shown and text != target:
                node.replace_self([nodes.Text(f"{text} ("), nodes.literal(shown, shown), nodes.Text(")")])
            else:
                node.replace_self(nodes.literal(shown, shown))


def setup(app):
    app.connect("builder-inited", _check_api_coverage)
    app.add_post_transform(_RepositoryFileLinks)
