# Sourced by test.sh and bench.sh (not run): a moto server private to the calling shell.
#
#   source infra/local/private-moto.sh
#   start_private_moto test     # exports AWS_ENDPOINT_URL_DYNAMODB and placeholder credentials
#
# The server has its own state directory, so it never touches a dev stack's, and it is stopped
# when the shell exits, pass or fail (Ctrl-C and kill run the EXIT trap too).

start_private_moto() {
    PRIVATE_MOTO_STATE=".dev/moto-$1.$$"
    trap 'bash infra/local/moto.sh stop "$PRIVATE_MOTO_STATE" || true; rm -rf "$PRIVATE_MOTO_STATE"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local moto_env
    moto_env="$(bash infra/local/moto.sh start "$PRIVATE_MOTO_STATE")"
    eval "$moto_env"

    # Placeholders for moto, never real credentials; nothing may reach AWS from these runs.
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
}
