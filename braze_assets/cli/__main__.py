import sys

from braze_assets.cli.main import main

sys.exit(main())
