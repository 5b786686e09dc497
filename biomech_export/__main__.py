import sys

from biomech_export.cli import main

if __name__ == "__main__":
    sys.exit(main())
