"""The Frappe tier's fixtures (a real site: $FRAPPE_SITE), for tests that also use a second site of the
same bench, on the same MariaDB server and Redis: $SCOOPJOY_OTHER_SITE (scripts/check-fresh-install
passes its throwaway site)."""

from tests.integration.conftest import *  # noqa: F403
