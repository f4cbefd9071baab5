"""pip's entry to the C++ build: build_ext configures and builds this project with CMake
(Ninja when present), then `cmake --install --component python` lays out the package:
synthforge/_synthforge*.so and synthforge/lib/ with libsynthforge and the llama.cpp
libraries, all found through $ORIGIN. The version is project(VERSION) in CMakeLists.txt.

Environment:
  SYNTHFORGE_LLAMA_PREFIX  llama.cpp built by scripts/deps-llama.sh (default: ask the script,
                           which builds it once into ~/.cache/synthforge when missing)
  SYNTHFORGE_BUILD_DIR     reuse an existing CMake build directory instead of a fresh one
  SYNTHFORGE_BUILD_JOBS    parallel compile jobs (default: all cores)
  SYNTHFORGE_SETUP_BUILD_BASE  setuptools' own build folder (default: build-python/)
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(synthforge VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = Path(os.environ.get("SYNTHFORGE_BUILD_DIR") or Path(self.build_temp).resolve() / "cmake")
        package_root = Path(self.get_ext_fullpath(ext.name)).resolve().parent.parent
        if not (build_dir / "CMakeCache.txt").exists():
            prefix = os.environ.get("SYNTHFORGE_LLAMA_PREFIX") or subprocess.run(
                [str(ROOT / "scripts" / "deps-llama.sh"), "--prefix"], check=True, capture_output=True,
                text=True).stdout.strip()
            cmd = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                   f"-DSYNTHFORGE_LLAMA_PREFIX={prefix}", f"-DPython_EXECUTABLE={sys.executable}",
                   "-DSYNTHFORGE_BUILD_TESTS=OFF", "-DSYNTHFORGE_BUILD_PYTHON=ON"]
            if shutil.which("ninja"):
                cmd += ["-G", "Ninja"]
            subprocess.run(cmd, check=True)
        jobs = os.environ.get("SYNTHFORGE_BUILD_JOBS") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "synthforge_python", "-j", jobs],
                       check=True)
        if not list((build_dir / "python" / "synthforge").glob("_synthforge*.so")):
            sys.exit(f"synthforge: {build_dir} has no Python module: is pybind11-dev installed? "
                     "(see the CMake output above)")
        subprocess.run(["cmake", "--install", str(build_dir), "--component", "python", "--prefix",
                        str(package_root)], check=True)


# pip builds in the source tree: keep setuptools' build/ and egg-info out of the way of the
# CMake build directories (build-python/ is ignored by git like every /build-*/).
BUILD_BASE = Path(os.environ.get("SYNTHFORGE_SETUP_BUILD_BASE") or ROOT / "build-python")
BUILD_BASE.mkdir(parents=True, exist_ok=True)

setup(
    version=project_version(),
    options={"build": {"build_base": str(BUILD_BASE)}, "egg_info": {"egg_base": str(BUILD_BASE)}},
    packages=["synthforge"],
    package_dir={"": "python"},
    ext_modules=[Extension("synthforge._synthforge", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
