import gc
import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceErpnext


def run() -> None:
    # The CDK's imports leave ~200k long-lived objects; keep the garbage collector from re-scanning them while
    # pages of records are decoded (each page allocates tens of thousands of objects).
    gc.freeze()
    launch(SourceErpnext(), sys.argv[1:])
