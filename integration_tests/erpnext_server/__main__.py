"""python -m integration_tests.erpnext_server --port 8000 --items 20000"""
import argparse
import signal
import sys
import threading

from . import API_KEY, ErpnextTestServer
from .app import FAULTS


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m integration_tests.erpnext_server")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--items", type=int, default=20000,
                   help="generated items (the fixed reorder cases of data.REORDER_CASES come on top)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--fault-kinds", default=",".join(map(str, FAULTS)),
                   help="what --fault-rate answers, comma-separated: 429, 502, 503, 504, cut, db (MariaDB down: 500 "
                        "with pymysql's OperationalError), query-timeout (500, frappe.exceptions.QueryTimeoutError)")
    p.add_argument("--frappe-version", type=int, default=15, choices=(13, 14, 15, 16))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-page-length", type=int, default=None)
    p.add_argument("--mutate-every", type=int, default=None)
    p.add_argument("--doctypes", type=int, default=0,
                   help="synthetic DocTypes on top of ERPNext's (a real site has ~500 listable ones)")
    p.add_argument("--time-zone", default="Asia/Kolkata", help="System Settings' time_zone: `modified` is its wall time")
    a = p.parse_args(argv)
    srv = ErpnextTestServer(items=a.items, seed=a.seed, latency=a.latency_ms / 1000.0, fault_rate=a.fault_rate,
                            frappe_version=a.frappe_version, port=a.port, max_page_length=a.max_page_length,
                            fault_kinds=[int(k) if k.isdigit() else k for k in a.fault_kinds.split(",")],
                            synthetic_doctypes=a.doctypes, time_zone=a.time_zone)
    srv.mutate_every = a.mutate_every
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    srv.start()
    print(f"ERPNext test server on {srv.url} (api key: {API_KEY})", flush=True)
    while not stop.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
