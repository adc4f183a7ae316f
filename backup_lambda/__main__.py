"""``python -m backup_lambda ...``: the old name of the command line, kept for runbooks and scripts.

The command line lives in the operator package: ``python -m cognito_backup``. This shim is not part
of the function's archive (it is outside the handler's imports).
"""

import sys

from cognito_backup.cli import main

sys.exit(main())
