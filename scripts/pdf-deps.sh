#!/usr/bin/env bash
# What the PDF documents need from the system (sourced by run.sh and test.sh): Pango for WeasyPrint and the
# DejaVu Serif font, whose coverage of Vietnamese is complete (Debian: libpango-1.0-0, libpangoft2-1.0-0,
# fonts-dejavu-core). Installed with apt-get when running as root, otherwise named.
pdf_deps_missing() {
  local missing=()
  ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
  fc-list "DejaVu Serif" 2>/dev/null | grep -q . || missing+=(fonts-dejavu-core fontconfig)
  echo "${missing[@]}"
}
PDF_DEPS="$(pdf_deps_missing)"
if [ -n "$PDF_DEPS" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing the PDF documents' system packages: $PDF_DEPS"
    # shellcheck disable=SC2086
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PDF_DEPS) >/dev/null \
      || echo "$PDF_DEPS could not be installed; the PDF documents will fail" >&2
  else
    echo "The PDF documents need: sudo apt-get install $PDF_DEPS" >&2
  fi
fi
