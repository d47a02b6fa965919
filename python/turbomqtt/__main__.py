"""``python -m turbomqtt``: the same as the ``turbomqtt`` command."""

import sys

from turbomqtt.cli import main

sys.exit(main())
