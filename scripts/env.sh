# Sourced by the scripts: use the BBC data beside the checkout (../shared/data/bbc)
# unless TEXTRNN_DATA already points elsewhere, so nothing is downloaded here.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${TEXTRNN_DATA:-}" ] && [ -d "$_root/../shared/data/bbc" ]; then
  export TEXTRNN_DATA="$(cd "$_root/../shared/data/bbc" && pwd)"
fi
export PATH="$_root/.venv/bin:$PATH"
