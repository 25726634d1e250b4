"""Builds the optional compiled record walk (auditor/capture/_walk.c).

Everything else is in pyproject.toml. When no C compiler is available the
build goes on without it and the reader uses its pure-Python walk.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, no headers: fall back to Python
            print(f"warning: compiled record walk not built ({e}); using the Python walk")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:
            print(f"warning: {ext.name} not built ({e}); using the Python walk")


setup(
    ext_modules=[Extension("auditor.capture._walk", ["auditor/capture/_walk.c"],
                           extra_compile_args=["-O2"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
