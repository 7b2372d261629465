#!/usr/bin/env bash
# Deploy FaceMood to AWS with one command:
#   scripts/deploy.sh --certificate-arn ARN --vpc-id vpc-... --subnets subnet-a,subnet-b [--stack facemood] [--region us-east-1]
# Needs: aws CLI v2 with credentials, docker. Steps: (1) the stack's buckets and ECR
# repositories, (2) build and push the three images, (3) the functions and services,
# (4) seed the model bucket with the shipped bundle, (5) print the app URL.
set -euo pipefail

STACK=facemood
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
PROJECT=facemood
CERT="" VPC="" SUBNETS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --project) PROJECT=$2; shift 2 ;;
    --certificate-arn) CERT=$2; shift 2 ;;
    --vpc-id) VPC=$2; shift 2 ;;
    --subnets) SUBNETS=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
for required in CERT VPC SUBNETS; do
  [[ -n "${!required}" ]] || { echo "missing --${required,,} (see --help)" >&2; exit 2; }
done

cd "$(dirname "$0")/.."
# The app must not go live with a placeholder counselling resource (fill in config/app.yaml).
"${PYTHON:-python3}" -m cli check-config
TAG=$(git rev-parse --short=12 HEAD)
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
REGISTRY="${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com"
PARAMS=(ProjectName="$PROJECT" CertificateArn="$CERT" VpcId="$VPC" PublicSubnetIds="$SUBNETS" ImageTag="$TAG")

deploy() {
  aws cloudformation deploy --region "$REGION" --stack-name "$STACK" --template-file infra/template.yaml \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
    --parameter-overrides "${PARAMS[@]}" "ImagesReady=$1"
}
output() {
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

echo "==> 1/5 buckets and image repositories"
deploy false

echo "==> 2/5 images (tag $TAG)"
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
for image in lambda pipeline app; do
  uri="${REGISTRY}/${PROJECT}/${image}:${TAG}"
  if aws ecr describe-images --region "$REGION" --repository-name "${PROJECT}/${image}" --image-ids imageTag="$TAG" >/dev/null 2>&1; then
    echo "    ${uri} already pushed"
    continue
  fi
  docker build --platform linux/amd64 -f "dockerfiles/Dockerfile-${image}" -t "$uri" .
  docker push "$uri"
done

echo "==> 3/5 functions, training task and app service"
deploy true

echo "==> 4/5 seed the model bucket with the shipped model"
MODELS=$(output ModelBucketName)
if aws s3api head-object --bucket "$MODELS" --key models/latest.json >/dev/null 2>&1; then
  echo "    s3://${MODELS}/models/latest.json exists: left as it is"
else
  run_id=$(python3 -c "import json; print(json.load(open('models/latest.json'))['run_id'])")
  aws s3 cp --recursive "models/${run_id}" "s3://${MODELS}/models/${run_id}"
  aws s3 cp models/latest.json "s3://${MODELS}/models/latest.json"   # last: the bundle is complete
fi

echo "==> 5/5 done"
echo "App:            $(output AppUrl)"
echo "Raw bucket:     s3://$(output RawBucketName)   (upload FER2013 CSVs here)"
echo "Train a model:  facemood train --remote --stack $STACK   or: $(output RunTrainingCommand)"
