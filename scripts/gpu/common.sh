# sourced by every GPU call: edgekit from this tree, typer 0.29.2 carried (edgekit's CLI needs typer._click)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
if [ ! -d /tmp/site/pydantic ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
W=/tmp/zoo
EK="python3 -m edgekit.cli.main"
