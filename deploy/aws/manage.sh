#!/usr/bin/env bash
# Runs one manage.py command as a one-off ECS task (the stack's manage task
# definition: same image, settings and secrets as the services) and waits for
# it; prints its logs and exits with its exit code.
#
#   deploy/aws/manage.sh migrate --noinput
#   deploy/aws/manage.sh createsuperuser --noinput --email ops@example.com
#   deploy/aws/manage.sh showmigrations
#
# STACK names the CloudFormation stack (default: opply); the AWS CLI's own
# settings (AWS_PROFILE, AWS_REGION) say where. Needs the AWS CLI v2 and python3.
set -euo pipefail

STACK=${STACK:-opply}
if [ $# -eq 0 ]; then
  echo "usage: $0 <manage.py command> [arguments]" >&2
  exit 2
fi

output() {
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

cluster=$(output ClusterName)
task_definition=$(output ManageTaskDefinition)
subnets=$(output PrivateSubnets)
security_group=$(output AppSecurityGroup)
log_group=$(output LogGroup)
overrides=$(python3 -c 'import json, sys; print(json.dumps({"containerOverrides": [{"name": "manage", "command": ["python", "manage.py", *sys.argv[1:]]}]}))' "$@")

task=$(aws ecs run-task --cluster "$cluster" --task-definition "$task_definition" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
  --overrides "$overrides" --started-by manage.sh --query 'tasks[0].taskArn' --output text)
if [ -z "$task" ] || [ "$task" = None ]; then
  echo "the task did not start (aws ecs run-task returned no task)" >&2
  exit 1
fi
echo "task ${task##*/}: python manage.py $*"

# No time limit of our own: a long migration may take longer than `aws ecs wait` allows.
while [ "$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].lastStatus' --output text)" != STOPPED ]; do
  sleep 5
done

aws logs get-log-events --log-group-name "$log_group" --log-stream-name "manage/manage/${task##*/}" \
  --start-from-head --query 'events[].message' --output text | tr '\t' '\n' || true
exit_code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$exit_code" != 0 ]; then
  reason=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].stoppedReason' --output text)
  echo "python manage.py $* failed: exit code ${exit_code} (${reason})" >&2
  exit 1
fi
echo "python manage.py $*: done"
