import ctypes
import ctypes.util
import gc
import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceErpnext

M_ARENA_MAX = -8  # glibc's mallopt parameter


def use_one_malloc_arena() -> None:
    """glibc gives each thread that allocates its own heap ("arena") and keeps what it frees there; with streams and
    ranges read in threads, that costs ~45 MB of RSS at max_concurrency 4. The threads take turns under the GIL
    anyway, so one heap costs nothing in speed. A no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError, TypeError):
        pass


def run() -> None:
    use_one_malloc_arena()
    # The CDK's imports leave ~200k long-lived objects; keep the garbage collector from re-scanning them while
    # pages of records are decoded (each page allocates tens of thousands of objects).
    gc.freeze()
    launch(SourceErpnext(), sys.argv[1:])
