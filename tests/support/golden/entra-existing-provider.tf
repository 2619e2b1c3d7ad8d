data "aws_iam_openid_connect_provider" "azure_pipelines" {
  url = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
}

resource "aws_iam_role" "azure_pipelines" {
  name                 = "azure-pipelines"
  description          = "Assumed by Azure Pipelines through workload identity federation (login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0)"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AwsWifWebIdentity"
      Effect    = "Allow"
      Principal = { Federated = data.aws_iam_openid_connect_provider.azure_pipelines.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        "StringEquals" = {
          "login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0:aud" = "api://AzureADTokenExchange"
          "login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0:sub" = "/eid1/c/pub/t/EREiIjMzREREVVVVVVVV/a/abc/sc/01234567-89ab-cdef-0123-456789abcdef/0d6a3f5e-1111-4222-8333-944445555666"
        }
      }
    }]
  })
}

output "role_arn" {
  description = "The roleArn input of AwsWifAssume@1"
  value       = aws_iam_role.azure_pipelines.arn
}
