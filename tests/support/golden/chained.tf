resource "aws_iam_role" "azure_pipelines" {
  name                 = "deploy"
  description          = "Assumed by Azure Pipelines through the hub role arn:aws:iam::123456789012:role/deploy (role chaining)"
  max_session_duration = 7200
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AwsWifHubRole"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::123456789012:role/deploy" }
      Action    = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "azure_pipelines_0" {
  role       = aws_iam_role.azure_pipelines.name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}

output "role_arn" {
  description = "A chainedProfiles line of AwsWifAssume@1: NAME=<this ARN>"
  value       = aws_iam_role.azure_pipelines.arn
}
