from .source import SourceErpnext

__all__ = ["SourceErpnext"]
