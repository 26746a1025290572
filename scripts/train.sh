#!/usr/bin/env bash
# Builds what the assistant needs and trains the Rasa model only when it is missing or stale
# (data, config, domain or the knowledge base changed). Idempotent and quick when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
PY=.venv/bin/python
# 1. The spaCy pipeline, generated from the knowledge base's lexicon (its span categoriser is
#    trained on the lexicon's finds in data/nlu.yml; about a minute and a half).
#    What it is made from: actions.nlu.spacy_pipeline.SOURCES.
if ! $PY -c "import sys; sys.path.insert(0, '.'); from actions.nlu import spacy_pipeline as p; sys.exit(not p.is_current())"; then
  $PY -m actions.nlu build
fi
# 2. domain.yml and the NLU lookup tables, generated from the knowledge base.
$PY -m actions.dialogue.domain --check 2>/dev/null || $PY -m actions.dialogue.domain
$PY -m actions.nlu.lookups --check 2>/dev/null || $PY -m actions.nlu.lookups
# 3. The Rasa model, when its inputs changed.
# (the spaCy pipeline's lemmas feed DIET's features, so it is part of the model's inputs)
fingerprint=$(cat config.yml domain.yml $(find data -type f -name '*.yml' | sort) \
  $(find models/spacy_pipeline -type f ! -name meta.json | sort) | sha256sum | cut -c1-16)
stamp=models/.fingerprint
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && ls models/*.tar.gz >/dev/null 2>&1; then
  echo "train: model up to date ($(ls -t models/*.tar.gz | head -1))"
  exit 0
fi
echo "train: training the Rasa model (about a minute)"
start=$(date +%s)
rm -f models/*.tar.gz
if ! .venv/bin/rasa train --fixed-model-name "triage-$fingerprint" --out models > models/train.log 2>&1 \
   || ! ls models/*.tar.gz >/dev/null 2>&1; then
  grep -vE 'Epochs|Processed' models/train.log | tail -40 >&2
  echo "train: failed (full log: models/train.log)" >&2
  exit 1
fi
echo "$fingerprint" > "$stamp"
echo "train: done in $(( $(date +%s) - start )) s"
