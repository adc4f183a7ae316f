"""cognito-backup: complete, verified, encrypted snapshots of Amazon Cognito user pools."""

__version__ = "0.1.0"
