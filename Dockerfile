# Image of the ERPNext source, built the way Airbyte builds its Python connectors.
#
# The base image is pinned by tag AND digest and must equal data.connectorBuildOptions.baseImage in
# metadata.yaml (unit_tests/test_packaging.py checks both). python-connector-base 4.0.2 ships
# Python 3.11.13, which satisfies setup.py's python_requires=">=3.11".
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code

# Only what the package build needs: setup.py, the code, and the bundled schemas (installed as
# source_erpnext/schemas/*.json through setup.py's package_dir).
COPY setup.py ./
COPY source_erpnext ./source_erpnext
COPY schemas ./schemas

RUN pip install --no-cache-dir . \
    && source-erpnext spec > /dev/null

# The base image's non-root user, as Airbyte's own Python connector images use.
USER airbyte

# `source-erpnext` is the package's console script (setup.py entry_points); the platform runs
# "$AIRBYTE_ENTRYPOINT <command> ...", docker run uses ENTRYPOINT.
ENV AIRBYTE_ENTRYPOINT="source-erpnext"
ENTRYPOINT ["source-erpnext"]

LABEL io.airbyte.name=airbyte/source-erpnext
LABEL io.airbyte.version=0.1.0
