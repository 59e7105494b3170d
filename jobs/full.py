"""The whole SDRRL flow as one Ray Job: transfer set -> train -> eval, in that order.

    ray job submit --address http://127.0.0.1:8265 --working-dir . --runtime-env cluster/runtime_env.yaml \\
        -- python jobs/full.py jobs/configs/demo.yaml [key=value ...] [phases=[transfer-set,train,eval]]

Prints the resolved config as JSON first, then one line per phase, then a JSON summary line. Each
phase's GPU actors have ended (checked with Ray's state API) before the next phase starts. Every
requested phase is imported before any runs: a phase this checkout lacks fails the job at once.
Exit status 0 on success, 2 with one line on stderr on a user error. Also runs without Ray Jobs
(``python jobs/full.py CONFIG ...``: a local Ray instance, or RAY_ADDRESS).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the code this job was submitted with

from sdrrl_ray.app.jobs import job_main  # noqa: E402
from sdrrl_ray.app.phases import ALL_PHASES  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_main(sys.argv[1:], prog="jobs/full.py", default_phases=ALL_PHASES))
