# The two commands of the README: `make run` and `make test`.
.PHONY: run test setup train bench clean

run:
	scripts/run.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh

train: setup
	scripts/train.sh

bench: train
	.venv/bin/python scripts/bench_engine.py
	.venv/bin/python scripts/bench_assistant.py

clean:
	rm -rf models/*.tar.gz models/spacy_pipeline models/.fingerprint results .pytest_cache
