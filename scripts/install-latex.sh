#!/usr/bin/env bash
# LaTeX for `textrnn report`, from Debian's TeX Live packages: pdflatex with Times,
# graphicx, amsmath (texlive-latex-base), booktabs (texlive-latex-recommended), the
# Times/Helvetica Type 1 fonts (texlive-fonts-recommended), and pdfinfo / pdftotext /
# pdftoppm for the report's tests (poppler-utils).
# Skipped when pdflatex and pdfinfo are already on PATH.
#   --kit  also install texlive-latex-extra, which the official CVPR author kit
#          (textrnn report --style-dir) needs (its cvpr.sty loads silence.sty).
set -euo pipefail
PKGS=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended poppler-utils)
want_kit=0
for arg in "$@"; do
  case "$arg" in
    --kit) want_kit=1; PKGS+=(texlive-latex-extra) ;;
    *) echo "install-latex.sh: unknown option $arg (only --kit)" >&2; exit 2 ;;
  esac
done
if command -v pdflatex >/dev/null && command -v pdfinfo >/dev/null \
   && { [ "$want_kit" = 0 ] || kpsewhich silence.sty >/dev/null; }; then
  exit 0
fi
exec bash "$(dirname "$0")/apt-install.sh" \
  "install-latex.sh: no apt-get here; install TeX Live (pdflatex with times, booktabs) and poppler (pdfinfo) yourself: ${PKGS[*]}" \
  "${PKGS[@]}"
