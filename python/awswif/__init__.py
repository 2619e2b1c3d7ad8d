"""aws-wif: AWS credentials for Azure Pipelines jobs through workload identity federation."""
