import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceErpnext


def run() -> None:
    launch(SourceErpnext(), sys.argv[1:])
