import sys

from zerg_site.cli import main

sys.exit(main())
