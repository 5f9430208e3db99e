// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Stand-ins for libc10_cuda.so / libtorch_cuda.so, so that the CUDA build of
 * torchvision 0.28.0 (the only one on PyPI) loads next to the CPU build of
 * torch 2.13.0. torchvision/_C.so lists both libraries as NEEDED and binds
 * the symbols below at load time (image.so too); without them its CPU ops
 * are missing and `import torchvision` fails ("operator torchvision::nms does
 * not exist"), which breaks `import sglang` and `import transformers`. No
 * CUDA code path runs on this machine: a call into any stub is a bug, so it
 * aborts loudly. device_count() says 0.
 *
 * Built by tools/install_python.sh into .venv/lib/servetrace-cuda-stubs/;
 * torchvision_cpu_hook.py preloads it when torchvision is first imported.
 * The symbol list is what `nm -D --undefined-only` of torchvision 0.28.0's
 * _C.so and image.so needs beyond CPU torch 2.13.0.
 */
#include <stdio.h>
#include <stdlib.h>

static void no_cuda(const char *sym)
{
	fprintf(stderr, "servetrace cuda stub: %s called with a CPU-only torch\n", sym);
	abort();
}

#define STUB(sym) \
	void sym(void); \
	void sym(void) { no_cuda(#sym); }

/* c10::cuda::device_count() */
signed char _ZN3c104cuda12device_countEv(void);
signed char _ZN3c104cuda12device_countEv(void) { return 0; }
/* c10::cuda::CUDACachingAllocator::allocator (std::atomic<CUDAAllocator *>) */
void *_ZN3c104cuda20CUDACachingAllocator9allocatorE;

STUB(_ZN3c104cuda14current_deviceEv)
STUB(_ZN3c104cuda14ExchangeDeviceEa)
STUB(_ZN3c104cuda14MaybeSetDeviceEa)
STUB(_ZN3c104cuda17getStreamFromPoolEba)
STUB(_ZN3c104cuda17getStreamFromPoolEia)
STUB(_ZN3c104cuda20getCurrentCUDAStreamEa)
STUB(_ZN3c104cuda20getDefaultCUDAStreamEa)
STUB(_ZN3c104cuda20setCurrentCUDAStreamENS0_10CUDAStreamE)
STUB(_ZN3c104cuda29c10_cuda_check_implementationEiPKcS2_jb)
STUB(_ZN3c104cuda9GetDeviceEPa)
STUB(_ZN3c104cuda9SetDeviceEab)
STUB(_ZNK3c104cuda10CUDAStream11synchronizeEv)
STUB(_ZNK3c104cuda10CUDAStream5queryEv)
STUB(_ZNK3c104cuda10CUDAStream6streamEv)
/* at::cuda::getCurrentDeviceProperties() (libtorch_cuda.so) */
STUB(_ZN2at4cuda26getCurrentDevicePropertiesEv)
