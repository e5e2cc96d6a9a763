import sys

from medfusion_lib.cli import main

sys.exit(main())
