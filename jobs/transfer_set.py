"""One phase as its own Ray Job: the transfer set (`sdrrl transfer-set`): OUT/transfer_set, OUT/rejects,
OUT/manifest.json.

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml \\
        -- python jobs/transfer_set.py CONFIG [key=value ...]

Same contract as jobs/full.py (config JSON first, exit 2 with one line on a user error).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the code this job was submitted with

from sdrrl_ray.app.jobs import job_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_main(sys.argv[1:], prog="jobs/transfer_set.py", default_phases=("transfer-set",),
                      phases_allowed=False))
