"""`python -m yoloarena MODE key=value ...`"""

import sys

from .cli import main

sys.exit(main())
