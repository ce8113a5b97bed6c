"""Hatchling build hook: compile the optional C extension `asyncapi_client/_speedups.c`.

It builds where a C compiler and the Python headers are present, with setuptools' `build_ext`
(which knows each platform's compiler and flags); the wheel is then tagged for this
interpreter and platform. Where the compile fails (no compiler, no headers), the build goes on
pure Python and says so: the package runs the same, its Python builders doing the C ones' work
(`asyncapi_client/_c_builders.py`). `ASYNCAPI_CLIENT_NO_EXTENSIONS=1` skips the compile.

An editable install (`pip install -e .`) compiles the extension into the source tree, next to
`_speedups.c` (git ignores it); `pip install -e .` again rebuilds it after the C file changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = "asyncapi_client"
EXTENSION = f"{PACKAGE}._speedups"
SOURCE = f"{PACKAGE}/_speedups.c"


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":  # the sdist ships the C source, not a build
            return
        if os.environ.get("ASYNCAPI_CLIENT_NO_EXTENSIONS", "") not in ("", "0"):
            self.app.display_info("asyncapi-client: ASYNCAPI_CLIENT_NO_EXTENSIONS is set, pure Python")
            return
        editable = version == "editable"
        self._temp = tempfile.TemporaryDirectory()
        try:
            built = self._compile(editable=editable)
        except Exception as exc:  # CompileError, LinkError, no setuptools...: build pure Python
            self.app.display_warning(
                f"asyncapi-client: the C extension was not built ({type(exc).__name__}: {exc}); "
                "installing pure Python, which decodes the same, more slowly"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:  # an editable install finds it in the source tree
            build_data["force_include"][str(built)] = f"{PACKAGE}/{built.name}"
        self.app.display_info(f"asyncapi-client: built the C extension {built.name}")

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        temp = getattr(self, "_temp", None)
        if temp is not None:
            temp.cleanup()

    def _compile(self, *, editable: bool) -> Path:
        from setuptools import Distribution, Extension

        extension = Extension(EXTENSION, [SOURCE])
        distribution = Distribution({"name": "asyncapi-client", "ext_modules": [extension]})
        command: Any = distribution.get_command_obj("build_ext")
        command.inplace = editable
        command.build_temp = os.path.join(self._temp.name, "temp")
        command.build_lib = os.path.join(self._temp.name, "lib")
        here = os.getcwd()
        os.chdir(self.root)  # build_ext reads SOURCE and writes an in-place build relative to it
        try:
            command.ensure_finalized()
            command.run()
            return Path(self.root, command.get_ext_fullpath(EXTENSION)).resolve()
        finally:
            os.chdir(here)
