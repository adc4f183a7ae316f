import sys

from backup_lambda.cli import main

sys.exit(main())
