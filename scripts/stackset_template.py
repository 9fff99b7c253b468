"""Expand template.yaml (AWS SAM) into plain CloudFormation for a StackSet.

Service-managed StackSets do not accept templates with macros, the
AWS::Serverless transform included. This script runs the SAM translator
(PyPI aws-sam-translator) offline over template.yaml and writes the result,
with no Transform left, to dist/stackset.yaml. The function's code then comes
from S3: the expanded template gets two parameters, CodeBucketPrefix (the code
is read from the bucket CodeBucketPrefix-<Region> in each Region) and CodeKey
(the object key of the zip that `sam build` made).

The output is generated, never edited: change template.yaml and run
scripts/stackset-template.sh again.

Usage: python scripts/stackset_template.py [--template template.yaml] [--output dist/stackset.yaml]
"""

import argparse
import copy
import os
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTION = "ReconcilerFunction"

CODE_PARAMETERS = {
    "CodeBucketPrefix": {
        "Type": "String",
        "Description": (
            "The function's code is read from the S3 bucket <CodeBucketPrefix>-<Region> of the Region "
            "the stack runs in (one bucket per Region, each holding the same zip under CodeKey)."
        ),
        # S3 bucket names: 3-63 characters; the Region suffix takes up to 16.
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,45}$",
        "ConstraintDescription": "2-46 characters from a-z 0-9 . - (the Region is appended)",
    },
    "CodeKey": {
        "Type": "String",
        "Description": "Object key of the function's code zip in each Region's bucket (e.g. disk-alarm-reconciler/1.4.0.zip).",
        "MinLength": 1,
        "MaxLength": 1024,
    },
}

GENERATED_NOTE = (
    " (Generated from template.yaml by scripts/stackset-template.sh for a StackSet:"
    " plain CloudFormation, code from the bucket CodeBucketPrefix-<Region>.)"
)


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags (!Sub, !Ref, ...) into their long form."""


def _short_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


class CfnDumper(yaml.SafeDumper):
    """Multi-line strings (the dashboard body) as literal blocks."""


def _str(dumper, value):
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


CfnDumper.add_representer(str, _str)


class NoManagedPolicies:
    """The translator asks for the account's managed policies only to resolve
    policy names in Policies; this template names none, so no AWS call is needed."""

    def load(self):
        return {}


def expand(template):
    """The SAM template as plain CloudFormation with S3 code parameters."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(template)
    resources = template.get("Resources") or {}
    function = resources.get(FUNCTION)
    if not isinstance(function, dict) or function.get("Type") != "AWS::Serverless::Function":
        raise SystemExit(f"ERROR: {FUNCTION} (AWS::Serverless::Function) not found in the template")
    parameters = template.setdefault("Parameters", {})
    for name, parameter in CODE_PARAMETERS.items():
        if name in parameters:
            raise SystemExit(f"ERROR: the template already has a parameter {name}")
        parameters[name] = parameter
    function["Properties"]["CodeUri"] = {
        "Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
        "Key": {"Ref": "CodeKey"},
    }
    # `sam build` instructions; the code is built before the StackSet exists.
    function.pop("Metadata", None)
    interface = (template.get("Metadata") or {}).get("AWS::CloudFormation::Interface")
    if isinstance(interface, dict):
        interface.setdefault("ParameterGroups", []).insert(
            0, {"Label": {"default": "Function code (S3)"}, "Parameters": list(CODE_PARAMETERS)}
        )
    expanded = transform(template, {}, NoManagedPolicies())
    expanded.pop("Transform", None)
    _partition_neutral_managed_policies(expanded)
    expanded["Description"] = str(expanded.get("Description", "")).rstrip() + GENERATED_NOTE
    leftovers = sorted(
        name
        for name, res in (expanded.get("Resources") or {}).items()
        if str((res or {}).get("Type", "")).startswith("AWS::Serverless::")
    )
    if leftovers:
        raise SystemExit(f"ERROR: the translator left SAM resources behind: {', '.join(leftovers)}")
    return expanded


def _partition_neutral_managed_policies(template):
    """The translator writes AWS managed policy ARNs for the partition of the
    Region it ran in (arn:aws:...); a StackSet may reach other partitions."""
    for res in (template.get("Resources") or {}).values():
        if (res or {}).get("Type") != "AWS::IAM::Role":
            continue
        arns = (res.get("Properties") or {}).get("ManagedPolicyArns") or []
        for index, arn in enumerate(arns):
            if isinstance(arn, str) and arn.startswith("arn:aws:") and "${" not in arn:
                arns[index] = {"Fn::Sub": "arn:${AWS::Partition}:" + arn[len("arn:aws:") :]}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "dist/stackset.yaml")
    args = parser.parse_args(argv[1:])
    # The translator builds some ARNs from the session's Region; the output
    # uses ${AWS::Region} and ${AWS::Partition} wherever it matters.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    try:
        with open(args.template, encoding="utf-8") as f:
            template = yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as e:
        print(f"ERROR: cannot read {args.template}: {e}", file=sys.stderr)
        return 2
    try:
        expanded = expand(template)
    except Exception as e:  # noqa: BLE001 - the translator's errors carry the reason in their message
        print(f"ERROR: the SAM translator failed on {args.template}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(f"# Generated from {args.template.name} by scripts/stackset-template.sh. Do not edit.\n")
        yaml.dump(expanded, f, Dumper=CfnDumper, sort_keys=False, width=120, allow_unicode=True)
    count = len(expanded.get("Resources") or {})
    print(f"{args.output}: {count} resources, no Transform", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
