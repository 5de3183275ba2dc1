"""Platform pieces every function uses: settings, observability, retry and deadlines, lazy
clients and the SQS delivery."""
