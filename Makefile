# har-vib: `make demo` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-video bench-extract bench bench-flow bench-clip tables compare compare-encoders test lint format sweep sync-wandb clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# --no-compile: byte-compiling all of torch at install costs ~35 s; imports compile what they use
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

# the main job on the embedded default dataset (aeon's BasicMotions, VIB-LSTM, hidden 256)
demo: install
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/python train.py

# the whole video path on generated clips: decode -> TV-L1 flow -> CNN features -> VIB-LSTM -> prune -> report
demo-video: install
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/python train.py experiment=demo_video

# frames/s of decoding, CNN forward and the whole extraction; TV-L1 pairs/s
bench-extract: install
	$(BIN)/python scripts/bench_extract.py $(BENCH_ARGS)

# single-core latency, naive vs compact, eager / TorchScript / onnxruntime: the paper-scale case (no data), or
# a run folder with `make bench RUN=outputs/runs/<time>`
bench: install
	$(BIN)/python scripts/bench_inference.py $(if $(RUN),$(RUN),--paper-scale) --json $(if $(RUN),$(RUN)/bench.json,outputs/bench_paper_scale.json) $(BENCH_ARGS)

# TV-L1: OpenCV vs the PyTorch port, end-point errors and pairs/s (GPU rows when CUDA is present)
bench-flow: install
	$(BIN)/python scripts/bench_flow.py --json outputs/flow_bench.json $(BENCH_ARGS)

# the whole CNN-LSTM per clip (frame encoder + LSTM), before/after compression, one core:
# make bench-clip RUN=outputs/encoder_compare/vib/seed0
bench-clip: install
	$(BIN)/python scripts/bench_clip.py $(RUN) --json $(RUN)/clip_bench.json $(BENCH_ARGS)

# frame-encoder compression on the synthetic videos (vib, hrel, dense, none) x 3 seeds, finished runs kept:
# outputs/encoder_compare/summary.md
compare-encoders: install
	for seed in 0 1 2; do for m in vib hrel dense none; do \
	  [ -f outputs/encoder_compare/$$m/seed$$seed/clip_model.json ] || WANDB_MODE=disabled $(BIN)/python train.py \
	    experiment=compressed_encoder_video backbone.compress=$$m seed=$$seed \
	    hydra.run.dir=outputs/encoder_compare/$$m/seed$$seed || exit 1; done; done
	$(BIN)/python scripts/encoder_report.py outputs/encoder_compare

# the paper's Tables 1-4 as architectures (no data needed): outputs/tables/architectures.csv
tables: install
	$(BIN)/python scripts/paper_tables.py --architectures

# every compression method on BasicMotions and the synthetic videos, 3 seeds: outputs/compare/compare.md
compare: install
	WANDB_MODE=disabled $(BIN)/python scripts/compare_methods.py $(COMPARE_ARGS)

test: install
	WANDB_MODE=disabled $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# beta sweep on the default dataset, then its table and plot
sweep: install
	$(BIN)/python train.py -m hparams_search=beta_sweep logger=csv hydra.sweep.dir=outputs/multiruns/beta_sweep
	$(BIN)/python scripts/sweep_report.py outputs/multiruns/beta_sweep

# upload offline W&B runs that have not been synced yet
sync-wandb: install
	find outputs -type d -name 'offline-run-*' | while read d; do \
		test -e "$$d/.synced" || $(BIN)/wandb sync "$$d"; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
