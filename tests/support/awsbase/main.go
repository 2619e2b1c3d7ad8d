// Command probe stands in for Terraform's hashicorp/aws provider where the provider itself cannot be
// downloaded: for each profile it resolves credentials with the provider's own library,
// github.com/hashicorp/aws-sdk-go-base/v2 (awsbase.GetAwsConfig), filling awsbase.Config as the
// provider's ConfigureProvider (internal/conns/config.go) does for the block
//
//	provider "aws" {
//	  profile                 = NAME      # left out for the profile "default": provider "aws" {}
//	  region                  = REGION    # only with -region; else AWS_REGION or the profile's region
//	  endpoints { sts = URL }
//	  skip_metadata_api_check = true
//	}
//
// then does what data "aws_caller_identity" does: STS GetCallerIdentity with the aws.Config it got.
//
//	probe -sts URL [-region REGION] [-parallel] PROFILE...
//
// prints one JSON object, profile -> {"arn", "account", "region", "seconds", "error"}, and exits 1 when
// any profile failed (2 on a usage error). With -parallel every profile is configured at the same time,
// each in a process of its own, as Terraform starts one provider plugin process per provider
// configuration and configures up to 10 (-parallelism) of them at once.
//
// The SDK's and awsbase's debug log (Go's log package) is discarded, as Terraform keeps a plugin's log
// out of sight unless TF_LOG is set; AWSWIF_PROBE_LOG=1 sends it to stderr. A credential_process's own
// stderr always reaches stderr (processcreds hands it os.Stderr).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	awsbase "github.com/hashicorp/aws-sdk-go-base/v2"
	"github.com/hashicorp/aws-sdk-go-base/v2/diag"
	"github.com/hashicorp/aws-sdk-go-base/v2/validation"
)

// Result is what one provider block ended with.
type Result struct {
	Arn     string  `json:"arn"`
	Account string  `json:"account"`
	Region  string  `json:"region"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error"`
}

// providerConfig is awsbase.Config as the provider fills it for the block above. Every other field keeps
// the zero value the provider gives it when the block leaves the argument out.
func providerConfig(profile, region, stsEndpoint string) *awsbase.Config {
	if profile == "default" {
		profile = "" // provider "aws" {}: the SDK's own choice, AWS_PROFILE or else the profile "default"
	}
	return &awsbase.Config{
		// internal/conns/config.go, ConfigureProvider: the provider's name and documentation in every
		// error awsbase writes (e.g. "No valid credential sources found" names CallerName).
		CallerName:             "Terraform AWS Provider",
		CallerDocumentationURL: "https://registry.terraform.io/providers/hashicorp/aws",
		// StdUserAgentProducts: the provider's User-Agent (APN partner HashiCorp).
		APNInfo: &awsbase.APNInfo{
			PartnerName: "HashiCorp",
			Products: []awsbase.UserAgentProduct{
				{Name: "Terraform", Version: "probe", Comment: "+https://www.terraform.io"},
				{Name: "terraform-provider-aws", Version: "probe", Comment: "+https://registry.terraform.io/providers/hashicorp/aws"},
			},
		},
		// skip_metadata_api_check = true: the IMDS client is disabled, so no credential or region
		// lookup can reach 169.254.169.254 (awsbase also sets AWS_EC2_METADATA_DISABLED=true for it).
		EC2MetadataServiceEnableState: imds.ClientDisabled,
		HTTPProxyMode:                 awsbase.HTTPProxyModeLegacy,
		// provider.go: "MaxRetries: 25, // Set default here, not in schema".
		MaxRetries: 25,
		Profile:    profile,
		Region:     region,
		// endpoints { sts = URL }: c.Endpoints[names.STS]; awsbase's STS client (credential
		// validation, account id lookup, assume_role) uses it.
		StsEndpoint: stsEndpoint,
		// skip_credentials_validation defaults to false; ConfigureProvider turns it on for
		// GetAwsConfig and restores it for GetAwsAccountIDAndPartition (see configure).
		SkipCredsValidation: false,
	}
}

func diagnosticsError(diags diag.Diagnostics) error {
	var parts []string
	for _, d := range diags.Errors() {
		text := d.Summary()
		if d.Detail() != "" {
			text += ": " + d.Detail()
		}
		parts = append(parts, text)
	}
	return errors.New(strings.Join(parts, "; "))
}

// configure runs one provider block: ConfigureProvider's calls into awsbase, then data "aws_caller_identity".
func configure(ctx context.Context, profile, region, stsEndpoint string) (result Result) {
	start := time.Now()
	defer func() { result.Seconds = time.Since(start).Seconds() }()

	c := providerConfig(profile, region, stsEndpoint)
	// "Avoid duplicate calls to STS by enabling SkipCredsValidation for the call to GetAwsConfig and
	// then restoring the configured value for the call to GetAwsAccountIDAndPartition."
	skipCredsValidation := c.SkipCredsValidation
	c.SkipCredsValidation = true
	ctx, cfg, diags := awsbase.GetAwsConfig(ctx, c)
	if diags.HasError() {
		result.Error = diagnosticsError(diags).Error()
		return result
	}
	result.Region = cfg.Region
	if err := validation.SupportedRegion(cfg.Region); err != nil { // skip_region_validation = false
		result.Error = err.Error()
		return result
	}
	c.SkipCredsValidation = skipCredsValidation
	accountID, _, diags := awsbase.GetAwsAccountIDAndPartition(ctx, cfg, c)
	if diags.HasError() {
		result.Error = "Retrieving AWS account details: " + diagnosticsError(diags).Error()
		return result
	}

	// data "aws_caller_identity": the provider's STS client for the same endpoints { sts } URL.
	client := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(stsEndpoint) })
	identity, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		result.Error = "reading STS Caller Identity: " + err.Error()
		return result
	}
	result.Arn = aws.ToString(identity.Arn)
	result.Account = aws.ToString(identity.Account)
	if result.Account != accountID {
		result.Error = fmt.Sprintf("account %q from GetAwsAccountIDAndPartition, %q from GetCallerIdentity", accountID, result.Account)
	}
	return result
}

// inOwnProcess configures one profile in a child process, as Terraform runs each provider configuration
// in a plugin process of its own.
func inOwnProcess(ctx context.Context, self, profile, region, stsEndpoint string) Result {
	start := time.Now()
	cmd := exec.CommandContext(ctx, self, "-sts", stsEndpoint, "-region", region, "--", profile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var results map[string]Result
	if jsonErr := json.Unmarshal(out, &results); jsonErr != nil {
		return Result{Seconds: time.Since(start).Seconds(), Error: fmt.Sprintf("probe process: %v (%v)", err, jsonErr)}
	}
	return results[profile]
}

func main() {
	stsEndpoint := flag.String("sts", "", "the endpoints { sts } URL (required: a local stand-in)")
	region := flag.String("region", "", "the provider's region argument (default: AWS_REGION or the profile's)")
	parallel := flag.Bool("parallel", false, "configure every profile at once, each in its own process")
	flag.Parse()
	profiles := flag.Args()
	if os.Getenv("AWSWIF_PROBE_LOG") != "1" {
		log.SetOutput(io.Discard)
	}
	if *stsEndpoint == "" || len(profiles) == 0 {
		fmt.Fprintln(os.Stderr, "usage: probe -sts URL [-region REGION] [-parallel] PROFILE...")
		os.Exit(2)
	}

	ctx := context.Background()
	results := make(map[string]Result, len(profiles))
	if *parallel {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(2)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, profile := range profiles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := inOwnProcess(ctx, self, profile, *region, *stsEndpoint)
				mu.Lock()
				results[profile] = r
				mu.Unlock()
			}()
		}
		wg.Wait()
	} else {
		for _, profile := range profiles {
			results[profile] = configure(ctx, profile, *region, *stsEndpoint)
		}
	}

	out, err := json.Marshal(results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	fmt.Println(string(out))
	for _, r := range results {
		if r.Error != "" {
			os.Exit(1)
		}
	}
}
