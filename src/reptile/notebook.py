"""What the chapters run right after their parameters cell and their setup cell.

papermill only warns about a parameter the notebook does not declare (``-p tyop 3``) and runs the chapter with its
defaults, so each chapter's third cell (after its parameters cell and the setup cell of ``reptile.launch``) is

    from reptile.notebook import check_parameters; check_parameters(globals(), "preset seed recompute ...")

which raises a ValueError naming the unknown names and the allowed ones. papermill inserts its
``injected-parameters`` cell right after the cell tagged ``parameters``, so by the time this runs the namespace holds
exactly the declared parameters and the injected ones (the setup cell leaves no name behind).
"""

from __future__ import annotations

import types
from typing import Any, Iterable, MutableMapping

# Names IPython and ipykernel put into a fresh kernel's namespace.
KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open", "display"})
_CHECKED = "_reptile_parameters_checked"


def check_parameters(namespace: MutableMapping[str, Any], allowed: str | Iterable[str]) -> None:
    """Raise ValueError if ``namespace`` (the notebook's ``globals()``) holds a name that is not among ``allowed``
    (the names of the parameters cell, a list or one space-separated string): a parameter papermill injected that
    the chapter does not declare, e.g. a misspelling. Names starting with ``_``, IPython's own names, modules,
    functions and classes are ignored. Only the first call in a kernel checks, so re-running the cell after later
    cells have defined more names is harmless."""
    names = allowed.split() if isinstance(allowed, str) else list(allowed)
    if namespace.get(_CHECKED):
        return
    unknown = sorted(
        k for k, v in namespace.items()
        if not k.startswith("_") and k not in KERNEL_NAMES and k not in names
        and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)))
    if unknown:
        raise ValueError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: this "
                         f"chapter's parameters are {', '.join(names)}. Check the spelling of the -p/-y names given "
                         f"to papermill (papermill itself only warns and would run the defaults)")
    namespace[_CHECKED] = True
