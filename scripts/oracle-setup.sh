#!/usr/bin/env bash
# Creates the Python oracle environment in .oracle/venv (ignored by git): torch (CPU),
# transformers, peft, safetensors, huggingface_hub and gguf at the versions pinned in
# scripts/oracle/requirements.txt. Skips when the venv already holds exactly these requirements.
# pip's package index comes from the machine's pip configuration (`pip config`), read at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/oracle/requirements.txt
venv=.oracle/venv
stamp=.oracle/requirements.sha256
python=${ORACLE_BASE_PYTHON:-python3}
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
  echo "oracle: $venv is up to date ($requirements unchanged)"
  exit 0
fi

started=$SECONDS
# The configured index (or extra indexes) becomes PIP_INDEX_URL so pip never waits on the default one.
index=$(pip config get global.index-url 2>/dev/null || true)
extra=$(pip config get global.extra-index-url 2>/dev/null || true)
if [[ -z $index && -n $extra ]]; then
  read -r index extra <<<"$extra"
fi
if [[ -n $index ]]; then export PIP_INDEX_URL=$index; fi
if [[ -n $extra ]]; then export PIP_EXTRA_INDEX_URL=$extra; fi

rm -rf "$venv" "$stamp"
mkdir -p .oracle
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c 'import torch, transformers, peft, safetensors, huggingface_hub, gguf'
echo "$wanted" >"$stamp"
echo "oracle: installed $requirements into $venv in $((SECONDS - started))s"
