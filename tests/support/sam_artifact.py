"""Lay out the function the way `sam build` does, from a binary cargo already built.

`sam build` (BuildMethod rust-cargolambda) compiles each function with cargo
lambda and writes .aws-sam/build/template.yaml, whose functions take their code
from .aws-sam/build/<LogicalId>/, holding the binary as `bootstrap`.
`sam local invoke` runs that. This script writes the same layout into OUTPUT
(target/sam-local/build by default) from template.yaml and the binaries in
target/<profile>/, so that the offline test (scripts/sam-local.sh) runs what
`cargo test` built: for every AWS::Serverless::Function built with
rust-cargolambda, target/<profile>/<BuildProperties.Binary> becomes
OUTPUT/<LogicalId>/bootstrap and the function's CodeUri becomes <LogicalId>.
Nothing else in the template changes.

Usage: python tests/support/sam_artifact.py [--template template.yaml] [--profile debug] [--output DIR]
"""

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _stackset_module():
    """The CloudFormation YAML loader and dumper of scripts/stackset_template.py."""
    spec = importlib.util.spec_from_file_location("stackset_template", REPO_ROOT / "scripts/stackset_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lay_out(template, binaries, output):
    """Copies each function's binary into OUTPUT/<LogicalId>/bootstrap; returns the built template."""
    functions = 0
    for name, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata") or {}
        if metadata.get("BuildMethod") != "rust-cargolambda":
            raise SystemExit(f"ERROR: {name} is not built with rust-cargolambda: this script cannot lay it out")
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not binary:
            raise SystemExit(f"ERROR: {name} names no BuildProperties.Binary")
        source = binaries / binary
        if not source.is_file():
            raise SystemExit(f"ERROR: {source} is missing: build it first (cargo build -p handler --bins)")
        (output / name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, output / name / "bootstrap")
        resource["Properties"]["CodeUri"] = name
        functions += 1
    if not functions:
        raise SystemExit("ERROR: the template has no AWS::Serverless::Function")
    return template


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    parser.add_argument("--profile", default="debug", help="cargo profile directory under target/ (debug, release)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "target/sam-local/build")
    args = parser.parse_args(argv[1:])
    cfn = _stackset_module()
    with open(args.template, encoding="utf-8") as f:
        template = yaml.load(f, Loader=cfn.CfnLoader)  # noqa: S506 - SafeLoader subclass
    if args.output.exists():
        shutil.rmtree(args.output)
    args.output.mkdir(parents=True)
    built = lay_out(template, REPO_ROOT / "target" / args.profile, args.output)
    with open(args.output / "template.yaml", "w", encoding="utf-8") as f:
        f.write(f"# Laid out from {args.template.name} by tests/support/sam_artifact.py, as `sam build` would.\n")
        yaml.dump(built, f, Dumper=cfn.CfnDumper, sort_keys=False, width=120, allow_unicode=True)
    print(args.output / "template.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
