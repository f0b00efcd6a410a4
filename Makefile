# har-vib: `make demo` and `make test` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data demo demo-video bench-extract bench bench-flow bench-clip tables compare compare-sequences compare-encoders test docs docs-serve lint format sweep sync-wandb rehearse clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# --no-compile: byte-compiling all of torch at install costs ~35 s; imports compile what they use
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

# download, unpack and verify a video dataset from its official archives (resumable; a verified root is left alone):
# make data DATASET=ucf101 [ROOT=data/raw/ucf101] [DATA_ARGS="--base-url https://mirror/har/"]
data: install
	$(if $(DATASET),,$(error make data needs DATASET=ucf11, hmdb51 or ucf101))
	$(BIN)/python scripts/get_data.py $(DATASET) --root $(if $(ROOT),$(ROOT),data/raw/$(DATASET)) $(DATA_ARGS)

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
# make bench-clip RUN=outputs/encoder_compare/compressed_encoder_lite0/vib/seed0
bench-clip: install
	$(BIN)/python scripts/bench_clip.py $(RUN) --json $(RUN)/clip_bench.json $(BENCH_ARGS)

# frame-encoder compression of the pretrained EfficientNet-Lite0 on the synthetic videos, 3 seeds: vib first, then
# hrel and L1-norm filter pruning at the MACs per frame the vib run reached, the dense control and the untouched
# encoder (none); every method trains the encoder 8 epochs in all (hrel: 2 warm-up, 2 rounds of 2, 2 after). Finished runs are kept; then each run's
# single-core latency per clip (bench_clip.py) and outputs/encoder_compare/<experiment>/summary.md
ENC_EXP ?= compressed_encoder_lite0
ENC_OUT = outputs/encoder_compare/$(ENC_EXP)
ENC_RUN = WANDB_MODE=disabled $(BIN)/python train.py experiment=$(ENC_EXP) seed=$$seed
# $(call enc_run,FOLDER,OVERRIDES): a finished run is kept, a killed one resumed, else the run starts in FOLDER
enc_run = state=$$($(BIN)/python scripts/run_state.py $(1)) || exit 1; \
	  if [ "$$state" != finished ]; then \
	    if [ -f $(1)/checkpoints/last.ckpt ]; then $(ENC_RUN) resume=$(1) || exit 1; \
	    else $(ENC_RUN) $(2) hydra.run.dir=$(1) || exit 1; fi; fi
compare-encoders: install
	for seed in 0 1 2; do \
	  $(call enc_run,$(ENC_OUT)/vib/seed$$seed,backbone.compress=vib); \
	  macs=$$($(BIN)/python scripts/encoder_report.py --macs-of $(ENC_OUT)/vib/seed$$seed) || exit 1; \
	  $(call enc_run,$(ENC_OUT)/hrel/seed$$seed,backbone.compress=hrel backbone.compression.target_macs=$$macs \
	    backbone.compression.epochs=2); \
	  $(call enc_run,$(ENC_OUT)/l1/seed$$seed,backbone.compress=l1 backbone.compression.target_macs=$$macs); \
	  for m in dense none; do $(call enc_run,$(ENC_OUT)/$$m/seed$$seed,backbone.compress=$$m); done; done
	for run in $(ENC_OUT)/*/seed*; do [ -f $$run/clip_bench.json ] || \
	  $(BIN)/python scripts/bench_clip.py $$run --pin-cpu 0 --json $$run/clip_bench.json || exit 1; done
	$(BIN)/python scripts/encoder_report.py $(ENC_OUT)

# the paper's Tables 1-4 as architectures (no data needed): outputs/tables/architectures.csv
tables: install
	$(BIN)/python scripts/paper_tables.py --architectures

# every compression method on BasicMotions and the synthetic videos, 3 seeds, with MiniRocket as the reference on
# BasicMotions: outputs/compare/compare.md
compare: install
	WANDB_MODE=disabled $(BIN)/python scripts/compare_methods.py $(COMPARE_ARGS)

# the default recipe across aeon's datasets: naive LSTM, VIB-LSTM (compact) and MiniRocket, 3 seeds each
# (about 1 h on 2 cores): outputs/compare_sequences/compare.md
SEQ_DATASETS = basicmotions italypowerdemand arrowhead osuleaf acsf1
compare-sequences: install
	WANDB_MODE=disabled $(BIN)/python scripts/compare_methods.py --datasets $(SEQ_DATASETS) \
		--methods naive_lstm vib_lstm minirocket --out outputs/compare_sequences $(COMPARE_ARGS)

# one pytest worker per CPU (pytest-xdist; TEST_WORKERS=0 runs in one process); --durations: the slowest tests,
# to keep the suite under 15 minutes (13 min 38 s on a clean clone of the 2-core machine at 6eba68d)
TEST_WORKERS ?= auto
test: install
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=20

# the documentation site from docs/ (MkDocs + mkdocstrings), warnings as errors: site/index.html
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet --no-compile -e '.[dev,docs]'
	touch $(DOCS_STAMP)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

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

# the UCF101-size rehearsal: every stage (generation, TV-L1, rgb and flow features, training, pruning, testing) on
# generated clips of UCF101's official shape at SCALE of its 13,320 videos, each stage a subprocess with a timeout;
# time, memory of the process tree and disk per stage, growth between scales (SCALE="0.01 0.1"), per-video fixed
# costs: outputs/rehearse/rehearsal.md
SCALE ?= 0.1
rehearse: install
	$(BIN)/python scripts/rehearse_scale.py --scale $(SCALE) $(REHEARSE_ARGS)

# upload offline W&B runs that have not been synced yet
sync-wandb: install
	find outputs -type d -name 'offline-run-*' | while read d; do \
		test -e "$$d/.synced" || $(BIN)/wandb sync "$$d"; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
