# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Make PyPI's CUDA build of torchvision load next to CPU torch.

Installed by tools/install_python.sh into the venv's site-packages as
_servetrace_torchvision_cpu.py, with a .pth line that imports it at start-up.
It waits, as a meta-path finder, until `torchvision` is first imported, then
preloads (RTLD_GLOBAL) the stand-ins for libc10_cuda.so / libtorch_cuda.so
built from tools/deploy/cuda_stubs.c and the libcudart.so.13 that the
torchvision wheel ships, so that torchvision/_C.so finds every library it
names. Neither SGLang nor torchvision is modified; nothing else is loaded
until torchvision is.
"""

import ctypes
import glob
import os
import sys

STUBS = os.path.join(sys.prefix, "lib", "servetrace-cuda-stubs")


class _TorchvisionCpuFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(cls)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.submodule_search_locations:
            site = os.path.dirname(list(spec.submodule_search_locations)[0])
            libs = sorted(glob.glob(os.path.join(site, "torchvision.libs", "libcudart*.so.13")))
            libs += [os.path.join(STUBS, "libc10_cuda.so"), os.path.join(STUBS, "libtorch_cuda.so")]
            for lib in libs:
                try:
                    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
                except OSError as e:
                    print(f"servetrace torchvision hook: {e}", file=sys.stderr)
        return spec


if os.path.isdir(STUBS) and _TorchvisionCpuFinder not in sys.meta_path:
    sys.meta_path.insert(0, _TorchvisionCpuFinder)
