import pytest

from integration_tests.erpnext_server import ErpnextTestServer


@pytest.fixture(scope="session")
def erpnext_server():
    with ErpnextTestServer(items=200, seed=1) as srv:
        yield srv


@pytest.fixture
def make_erpnext_server():
    started = []

    def make(**kwargs):
        srv = ErpnextTestServer(**kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
