__all__ = ["SourceErpnext"]


def __getattr__(name: str):
    # Imported on first use, so that the benchmark's bare loop can use request_line without importing airbyte-cdk.
    if name == "SourceErpnext":
        from .source import SourceErpnext

        return SourceErpnext
    raise AttributeError(name)
