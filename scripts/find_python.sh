#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter: first on PATH, then through pyenv.
# Rasa 3.6 supports Python 3.8-3.10 only; on 3.11 pip silently picks an ancient Rasa 1.x.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
for cand in python3.10 python3 python; do
  p=$(command -v "$cand" 2>/dev/null) || continue
  if ok "$p"; then echo "$p"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    p="$(pyenv prefix "$v" 2>/dev/null)/bin/python3.10"
    if ok "$p"; then echo "$p"; exit 0; fi
  done
fi
echo "error: Python 3.10 not found (looked on PATH for python3.10/python3/python and in pyenv)." >&2
echo "       Rasa 3.6 needs Python 3.8-3.10; install 3.10 (e.g. 'pyenv install 3.10.13') and retry." >&2
exit 1
