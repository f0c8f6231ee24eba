"""Prints the CloudFormation template that the SAM transform makes of a SAM template, as JSON.

Used by lint-template.sh to run cfn-lint on what CloudFormation will really see: neither
`cfn-lint` nor `sam validate --lint` on the SAM source reports a circular dependency that only
appears once SAM has generated the API's OpenAPI body (see template.yaml's design notes).

Runs offline: no credentials, no network. Local CodeUri values are replaced by a placeholder
S3 location, as `sam deploy` would after uploading them.

    python transformed_template.py template.yaml > out.json
"""

import json
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_CODE = "s3://placeholder-bucket/placeholder-key"


class NoManagedPolicies:
    """The template names no managed policies by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


def main(path):
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    functions = [
        props
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for props in [resource.setdefault("Properties", {})]
    ]
    globals_function = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = PLACEHOLDER_CODE
    for props in functions:
        if "CodeUri" in props:
            props["CodeUri"] = PLACEHOLDER_CODE
    try:
        transformed = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"{path}: SAM transform: {cause.message}", file=sys.stderr)
        return 1
    json.dump(transformed, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: transformed_template.py TEMPLATE", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
