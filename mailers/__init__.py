"""E-mail delivery: routing (who gets To/CC), message building, SMTP, RQ jobs, the worker."""
