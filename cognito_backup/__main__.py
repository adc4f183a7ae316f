import sys

from cognito_backup.cli import main

sys.exit(main())
