"""Build the optional Cython kernels (ext/*.pyx -> edgeqa.metrics._kernels_c).

Set EDGEQA_NO_EXTENSIONS=1 to skip the build and use the pure-Python reference.
"""

import os
from glob import glob

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("EDGEQA_NO_EXTENSIONS") and os.path.exists("ext/_kernels_c.pyx"):
    try:
        from Cython.Build import cythonize
    except ImportError:  # no Cython: the pure-Python path still installs
        cythonize = None
    if cythonize is not None:
        extensions = [
            Extension(
                "edgeqa.metrics._kernels_c",
                ["ext/_kernels_c.pyx"],
                extra_compile_args=["-O3"],
                optional=True,
            ),
            Extension(
                "edgeqa.media._ingest_c",
                ["ext/_ingest_c.pyx"],
                extra_compile_args=["-O3"],
                optional=True,
            ),
        ]
        ext_modules = cythonize(extensions, language_level=3, compiler_directives={
            "boundscheck": False, "wraparound": False, "cdivision": True,
        })
        # cythonize() drops Extension(optional=True): set it again so that a
        # machine without a C compiler still installs the pure-Python path.
        for ext in ext_modules:
            ext.optional = True

# The admin-facing Asterisk snippets, the systemd unit and the example config travel with the
# wheel (under <prefix>/share/edgeqa) so that an installed edgeqa, and its sandbox, find them.
data_files = [
    ("share/edgeqa/asterisk_conf", sorted(glob("asterisk_conf/*"))),
    ("share/edgeqa/systemd", sorted(glob("systemd/*"))),
    ("share/edgeqa/examples", sorted(glob("examples/*"))),
]

setup(ext_modules=ext_modules, data_files=data_files)
