import sys

from biomech_export.cli import main

sys.exit(main())
