"""Load a user's policy class from a Python file: ``PATH.py:ClassName``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

from .base import Policy


class PolicyModuleError(ValueError):
    """A ``PATH.py:ClassName`` that does not name a usable :class:`Policy` subclass."""


def load_policy(spec: str, reserved=()) -> Policy:
    """Import ``PATH.py`` and build ``ClassName()`` (no arguments).

    The class must derive from :class:`metamdp.policies.Policy` and have a ``name`` that is
    a non-empty string not among ``reserved`` (the built-in names), since results are
    labelled by it.
    """
    text = str(spec).strip()
    path, sep, cls_name = text.rpartition(":")
    if not sep or not path or not cls_name:
        raise PolicyModuleError(f"--policy-module {text!r}: use PATH.py:ClassName")
    if not os.path.isfile(path):
        raise PolicyModuleError(f"--policy-module {text!r}: no such file {path!r}")
    # a private module name per file, so two files may define classes of the same name
    mod_name = "ziprc_user_policy_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    try:
        mod = sys.modules.get(mod_name)
        if mod is None:
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            if module_spec is None or module_spec.loader is None:
                raise PolicyModuleError(f"--policy-module {text!r}: {path!r} is not a Python file")
            mod = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = mod
            try:
                module_spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[mod_name]
                raise
    except PolicyModuleError:
        raise
    except Exception as e:
        raise PolicyModuleError(f"--policy-module {text!r}: importing {path!r} failed: "
                                f"{type(e).__name__}: {e}") from e
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise PolicyModuleError(f"--policy-module {text!r}: {path!r} defines no {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise PolicyModuleError(f"--policy-module {text!r}: {cls_name} is not a subclass of "
                                "metamdp.policies.Policy")
    try:
        obj = cls()
    except Exception as e:
        raise PolicyModuleError(f"--policy-module {text!r}: {cls_name}() failed: "
                                f"{type(e).__name__}: {e}") from e
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name or name == Policy.name:
        raise PolicyModuleError(f"--policy-module {text!r}: {cls_name} needs a class attribute "
                                "`name` (a string labelling its results)")
    if name in reserved:
        raise PolicyModuleError(f"--policy-module {text!r}: name {name!r} is a built-in policy's; "
                                "choose another")
    return obj


def load_policies(specs, reserved=()) -> list:
    """Every ``PATH.py:ClassName`` of ``specs`` (a string, comma-separated, or a list of
    them) loaded; names must be distinct."""
    if specs is None:
        return []
    items = [specs] if isinstance(specs, str) else list(specs)
    parts = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    out = []
    for p in parts:
        obj = load_policy(p, reserved)
        if any(o.name == obj.name for o in out):
            raise PolicyModuleError(f"--policy-module {p!r}: two policies are named {obj.name!r}")
        out.append(obj)
    return out
