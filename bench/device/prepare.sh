#!/usr/bin/env bash
# Prepare a device call here, before spending device time (docs/gpu-retraining.md): the wheels that the device
# image lacks (bench/device/wheels.txt) into .whl/, and as much of the protein training split as still fits
# under the 64 MiB that a call carries into .payload/ (bench/device/payload.py). Both folders are kept out of
# git through .git/info/exclude. Needs the corpus (`dlm-protein corpus --out data/protein`) and pip's access to
# PyPI.
#   bash bench/device/prepare.sh [DATA]        (DATA defaults to data/protein)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
DATA=${1:-data/protein}
LIMIT=$((64 * 1024 * 1024))
MARGIN=$((1500 * 1000))  # untracked files that travel too, and what changes before the call

mkdir -p .git/info
for folder in /.whl/ /.payload/; do
    grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >>.git/info/exclude
done

rm -rf .whl
grep -v '^#' bench/device/wheels.txt | grep . | while read -r spec; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 -d .whl "$spec"
done

# what travels anyway: tracked files and untracked files that git does not ignore
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | sort -zu | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
wheels=$(du -sb .whl | cut -f1)
budget=$((LIMIT - tree - wheels - MARGIN))
echo "tree $tree bytes, wheels $wheels bytes: $budget bytes left for the protein payload"
if ((budget < 2000000)); then
    echo "less than 2 MB left for the payload: nothing worth training on would travel" >&2
    exit 1
fi
rm -rf .payload
python3 -m bench.device.payload pack "$DATA" .payload --budget-mb "$(python3 -c "print($budget / 1e6)")"
total=$((tree + wheels + $(du -sb .payload | cut -f1)))
echo "a call with carry [\".whl\", \".payload\"] sends $total of $LIMIT bytes"
