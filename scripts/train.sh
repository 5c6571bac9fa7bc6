#!/usr/bin/env bash
# Trains the Rasa model when its inputs changed since the last training (content hash, not mtimes).
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything the pipeline reads while training: Rasa's data, the affect data and the precedence rules, and the
# code of the custom components and policies.
inputs=$( { ls config.yml; find bot/domain data/nlu data/rules data/stories data/affect -name '*.yml'; \
            ls bot/components/*.py bot/policies/*.py bot/intent_model.py bot/lexical_features.py bot/affect_model.py bot/precedence.py \
               bot/escalation.py common/affect.py common/phrases.py common/data_files.py data/policy/precedence.yml \
               common/patterns.py common/tokenizer_vocabulary.py data/vocabulary/jieba_userdict.txt \
               requirements/rasa.lock var/encoders/minilm-int8.json; } | sort )
want=$(cat $inputs | sha256sum | cut -d' ' -f1)
stamp=models/.inputs.sha256
if [ "${FORCE_TRAIN:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && ls models/*.tar.gz >/dev/null 2>&1; then
  echo "==> model is up to date ($(ls -t models/*.tar.gz | head -1))"; exit 0
fi
echo "==> training the Rasa model (a few minutes on 2 cores)"
mkdir -p models
.venv-rasa/bin/rasa train --config config.yml --domain bot/domain \
  --data data/nlu data/rules data/stories --out models "$@"
echo "$want" > "$stamp"
