from setuptools import find_namespace_packages, setup

from scoopjoy import __version__ as version

# frappe and erpnext come from the bench (they are not on PyPI); redis and rq come with frappe.
setup(
	name="scoopjoy",
	version=version,
	description="Stock sync for ScoopJoy's franchise ice-cream outlets",
	author="ScoopJoy",
	author_email="engineering@scoopjoy.example",
	# Namespace discovery: data-only folders (fixtures, public/js) are packages too, so their files ship.
	packages=find_namespace_packages(include=["scoopjoy", "scoopjoy.*"]),
	zip_safe=False,
	include_package_data=True,
	install_requires=[],
)
