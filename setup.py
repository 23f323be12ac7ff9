from pathlib import Path

from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="source-erpnext",
    version=VERSION,
    description="Airbyte source connector for ERPNext (Frappe REST API).",
    packages=find_packages(include=["source_erpnext", "source_erpnext.*"]) + ["source_erpnext.schemas"],
    # The bundled schemas live at the top level (schemas/) and are installed inside the package.
    package_dir={"source_erpnext": "source_erpnext", "source_erpnext.schemas": "schemas"},
    package_data={"source_erpnext.schemas": ["*.json"]},
    python_requires=">=3.11",
    install_requires=[
        "airbyte-cdk==7.39.1",
        "requests>=2.31",
        "pydantic>=2.5,<3",
        "jsonschema>=4",
    ],
    extras_require={
        "tests": ["pytest>=8", "requests-mock>=1.11", "airbyte==0.71.3", "airbyte-connector-models==0.1.12"],
    },
    entry_points={"console_scripts": ["source-erpnext=source_erpnext.run:run"]},
)
