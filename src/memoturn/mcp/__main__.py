import sys

from memoturn.mcp import main

sys.exit(main())
