#!/usr/bin/env bash
# Remove FaceMood from AWS: empties the three buckets (every version) and the image
# repositories, then deletes the stack.  scripts/teardown.sh [--stack facemood] [--region us-east-1] --yes
set -euo pipefail
STACK=facemood
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
CONFIRMED=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --yes) CONFIRMED=true; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
$CONFIRMED || { echo "this deletes every object, model and image of stack $STACK: add --yes" >&2; exit 2; }
output() {
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
for key in RawBucketName RefinedBucketName ModelBucketName; do
  bucket=$(output "$key")
  echo "==> emptying s3://${bucket}"
  python3 - "$bucket" "$REGION" <<'PY'
import sys, boto3
bucket = boto3.resource("s3", region_name=sys.argv[2]).Bucket(sys.argv[1])
bucket.object_versions.delete()
bucket.objects.all().delete()
PY
done
for key in LambdaRepositoryUri PipelineRepositoryUri AppRepositoryUri; do
  repo=$(output "$key"); repo=${repo#*/}
  echo "==> deleting images of ${repo}"
  ids=$(aws ecr list-images --region "$REGION" --repository-name "$repo" --query 'imageIds[*]' --output json)
  [[ "$ids" == "[]" ]] || aws ecr batch-delete-image --region "$REGION" --repository-name "$repo" --image-ids "$ids" >/dev/null
done
echo "==> deleting stack ${STACK}"
aws cloudformation delete-stack --region "$REGION" --stack-name "$STACK"
aws cloudformation wait stack-delete-complete --region "$REGION" --stack-name "$STACK"
echo "done"
