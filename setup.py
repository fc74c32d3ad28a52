"""Package layout (metadata lives in pyproject.toml).

The repository keeps the product's fixed layout: ``harness/`` the library,
``fixtures/reftarget/`` the reference target, ``scenarios/`` the audit scenarios. Installed, they
become the import packages ``harness``, ``reftarget`` and ``chaos_audit_scenarios``, so
``chaos-audit run`` works from any directory after ``pip install .``. setuptools cannot express
"find packages under these folders, with these names" in pyproject.toml alone, hence this file.
"""

from setuptools import find_packages, setup

packages = find_packages(".", include=["harness", "harness.*"])
packages += ["reftarget"] + [f"reftarget.{p}" for p in find_packages("fixtures/reftarget")]
packages += ["rqtarget"] + [f"rqtarget.{p}" for p in find_packages("fixtures/rqtarget")]
packages += ["chaos_audit_scenarios"]
setup(
    packages=packages,
    package_dir={
        "reftarget": "fixtures/reftarget",
        "rqtarget": "fixtures/rqtarget",
        "chaos_audit_scenarios": "scenarios",
    },
)
