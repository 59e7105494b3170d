"""``python -m sdrrl_ray ...`` is the ``sdrrl`` command."""

import sys

from sdrrl_ray.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
