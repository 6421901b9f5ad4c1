#!/usr/bin/env bash
# Debian packages the service and its tests use, installed when missing (as root), or named
# with the one command to run (as a normal user).
#   postgresql-15-postgis-3  the database
#   gdal-bin                 ogr2ogr/ogrinfo: the GIS client the tests read the layers with
#   libpango-1.0-0, libpangoft2-1.0-0, fonts-dejavu-core
#                            WeasyPrint's text layout and the fonts of the PDF reports
#   poppler-utils            pdftoppm/pdftotext: the tests read the PDF reports with them
#   python3-qgis, qgis-providers
#                            Debian's QGIS (3.22 on Debian 12), headless: the tests add every
#                            layer with the documented authentication and draw the map
# `scripts/system.sh bench` also checks what the benchmarks use:
#   wrk                      the HTTP load generator of make bench-layers and bench-replica
set -euo pipefail

declare -A CHECK=(
  [postgresql-15-postgis-3]=/usr/share/postgresql/15/extension/postgis.control
  [gdal-bin]=/usr/bin/ogr2ogr
  [chromium]=/usr/bin/chromium
  [chromium-driver]=/usr/bin/chromedriver
  [libpango-1.0-0]=/usr/share/doc/libpango-1.0-0
  [libpangoft2-1.0-0]=/usr/share/doc/libpangoft2-1.0-0
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  [poppler-utils]=/usr/bin/pdftoppm
  [python3-qgis]=/usr/lib/python3/dist-packages/qgis/core/__init__.py
  [qgis-providers]=/usr/lib/qgis/plugins/libprovider_wfs.so
)
if [ "${1:-}" = bench ]; then CHECK[wrk]=/usr/bin/wrk; fi
missing=()
for package in "${!CHECK[@]}"; do
  [ -e "${CHECK[$package]}" ] || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
  echo "[civop-setup] installing ${missing[*]} with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "[civop-setup] missing Debian packages: run 'sudo apt-get install ${missing[*]}' and retry" >&2
  exit 1
fi
