# The airbyte-cdk standard tests (integration_tests/test_standard.py) need the CDK's pytest hooks.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
